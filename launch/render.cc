// `mnemo render`: argument parsing and output; recording and encoding live in envs/ (recorder,
// image_io) where they are unit-tested.
#include "launch/render.h"

#include "launch/args.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/config.h"
#include "envs/image_io.h"
#include "envs/recorder.h"
#include "envs/registry.h"

namespace mnemo::launch {
namespace {

constexpr const char* kRenderUsage =
    "usage: mnemo render ENV [--set KEY=VALUE]... [--policy random|zero] [--steps N] [--seed S] [--fps F]\n"
    "                    --out FILE.gif|DIR\n";

struct RenderArgs {
  std::string env;
  std::vector<std::string> sets;
  envs::RecordOptions record;
  std::int64_t fps = 10;
  std::string out;
};

RenderArgs parse(const std::vector<std::string>& args) {
  RenderArgs r;
  ArgReader in(args);
  while (in.next()) {
    const std::string a = in.arg();
    if (in.take_set(r.sets)) {
    } else if (a == "--policy") {
      r.record.policy = in.value();
    } else if (a == "--steps") {
      r.record.steps = in.int_value();
    } else if (a == "--seed") {
      r.record.seed = in.seed_value();
    } else if (a == "--fps") {
      r.fps = in.int_value();
    } else if (a == "--out") {
      r.out = in.value();
    } else if (in.is_flag()) {
      in.unknown();
    } else if (r.env.empty()) {
      r.env = a;
    } else {
      throw ConfigError("expected one ENV, got '" + r.env + "' and '" + a + "'");
    }
  }
  if (r.env.empty()) throw ConfigError("missing ENV (one of: " + envs::registered_env_names() + ")");
  if (r.out.empty()) throw ConfigError("missing --out FILE.gif|DIR");
  if (r.fps < 1 || r.fps > 100) throw ConfigError("--fps must be in [1, 100], got " + std::to_string(r.fps));
  r.record.validate();
  return r;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int render_main(const std::vector<std::string>& args) {
  try {
    const RenderArgs r = parse(args);
    // The overrides address the env's options, with or without the `env.` prefix of a config.
    config::Node options = config::parse_yaml("{}", "--set");
    for (std::string s : r.sets) {
      if (s.rfind("env.", 0) == 0) s = s.substr(4);
      if (s.rfind("name=", 0) == 0) throw ConfigError("give the env as ENV, not as --set name=...");
      config::apply_override(options, s);
    }
    std::unique_ptr<envs::Env> env =
        envs::make_env(r.env, [&](auto& o) { config::bind(options, "env", o); });
    const envs::Recording rec = envs::record(*env, r.record);
    if (ends_with(r.out, ".gif")) {
      const int delay_cs = static_cast<int>(100 / r.fps);
      envs::write_file(r.out, envs::encode_gif(rec.frames, delay_cs));
    } else {
      std::filesystem::create_directories(r.out);
      char name[32];
      for (std::size_t i = 0; i < rec.frames.size(); ++i) {
        std::snprintf(name, sizeof name, "frame_%05zu.png", i);
        envs::write_file((std::filesystem::path(r.out) / name).string(), envs::encode_png(rec.frames[i]));
      }
    }
    std::cout << "rendered " << r.env << ": " << rec.frames.size() << " frames of " << rec.frames[0].width << "x"
              << rec.frames[0].height << ", " << r.record.steps << " steps, " << rec.episodes_ended
              << " episodes ended, total reward " << rec.total_reward << " -> " << r.out << std::endl;
    return 0;
  } catch (const ConfigError& e) {
    std::cerr << "mnemo render: " << e.what() << "\n" << kRenderUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mnemo render: error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace mnemo::launch
