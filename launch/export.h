// `mnemo export`: writes a trained policy's weights as a safetensors file that carries, in its
// metadata, everything needed to rebuild the network: the model options, the observation spec
// and the action space. Python loads it with `safetensors.torch.load_file`; mnemo rebuilds the
// policy from it with load_exported_policy(). The layout is documented in docs/observing.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/models/models.h"

namespace mnemo::launch {

// Metadata keys of an exported policy (all values are strings, as safetensors requires).
namespace export_keys {
inline constexpr const char* kFormat = "format";                 // "pt", as torch-saved safetensors files
inline constexpr const char* kVersion = "mnemo_version";         // the mnemo that wrote the file
inline constexpr const char* kModel = "model";                   // JSON object: every model option
inline constexpr const char* kObservation = "observation_spec";  // JSON array of {name, dtype, shape}
inline constexpr const char* kAction = "action_space";           // JSON object: {kind, n | low, high | nvec}
inline constexpr const char* kEnv = "env";                       // the env's name
inline constexpr const char* kConfig = "config";                 // the resolved training config (YAML)
inline constexpr const char* kUpdates = "updates";               // learner updates at the checkpoint
inline constexpr const char* kEnvSteps = "env_steps";            // env steps at the checkpoint
}  // namespace export_keys

// The policy's parameters, then its buffers, by their module path ("actor.0.weight"), in
// module order: the tensors an exported file holds.
std::vector<std::pair<std::string, torch::Tensor>> policy_tensors(torch::nn::Module& policy);

// The metadata values for a model, as written into an exported file.
std::string model_options_json(const nn::ModelOptions& options);
std::string obs_spec_json(const Spec& spec);
std::string action_space_json(const ActionSpace& space);

struct ExportResult {
  std::filesystem::path checkpoint;  // where the weights came from
  std::size_t tensors = 0;           // tensors written
  std::int64_t values = 0;           // scalars in them
  std::uintmax_t bytes = 0;          // file size
};

// Loads RUN_DIR | CHECKPOINT_DIR (see load_trained_policy) and writes `out`. Throws ConfigError
// on bad input, mnemo::Error when writing fails (no partial file is left).
ExportResult export_policy(const std::string& source, const std::filesystem::path& out);

// A policy rebuilt from an exported file.
struct ExportedPolicy {
  nn::ModelOptions model;
  Spec obs_spec;
  ActionSpace action_space;
  std::shared_ptr<nn::PolicyImpl> policy;  // weights loaded, in eval mode
  std::map<std::string, std::string> metadata;
};

// Rebuilds the policy from the file's metadata and copies every tensor into it. Throws
// mnemo::Error when metadata is missing or malformed, or the tensors do not match the model
// (a missing, extra or differently shaped tensor, named in the message).
ExportedPolicy load_exported_policy(const std::filesystem::path& file);

// The command line of `mnemo export`.
struct ExportArgs {
  std::string source;  // RUN_DIR or CHECKPOINT_DIR (see load_trained_policy)
  std::string out;     // --out FILE.safetensors
};

class CommandArgs;  // launch/command.h

// `mnemo export RUN_DIR|CHECKPOINT_DIR --out FILE.safetensors` (a row of command_table()).
void export_command_line(CommandArgs& args, ExportArgs& a);
// Runs export_policy and prints a summary. Returns 0; throws ConfigError for bad input and
// mnemo::Error when writing fails.
int export_command(ExportArgs& a);

}  // namespace mnemo::launch
