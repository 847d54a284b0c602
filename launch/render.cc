// `mnemo render`: argument parsing and output; recording and encoding live in envs/ (recorder,
// image_io) where they are unit-tested.
#include "launch/render.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/config.h"
#include "envs/image_io.h"
#include "envs/recorder.h"
#include "envs/registry.h"
#include "launch/command.h"

namespace mnemo::launch {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void render_command_line(CommandArgs& args, RenderArgs& r) {
  args.optional_positional("ENV", &r.env);
  args.flags()
      ("out", text(&r.out, "FILE.gif|DIR"), "an animated GIF, or a directory of PNG frames")
      ("policy", text(&r.record.policy, "random|zero"), "uniform random actions, or action 0 / zero torque (default random)")
      ("steps", integer(&r.record.steps), "env steps to record; episodes restart when they end (default 200)")
      ("seed", integer(&r.record.seed, "S"), "seed of the first episode and of the policy (default 0)")
      ("fps", integer(&r.fps, "F"), "GIF frame rate (default 10)")
      ("set", repeated(&r.sets, "KEY=VALUE"), "an option of ENV (corridor_length or env.corridor_length); repeatable");
  args.check([&r] {
    if (r.env.empty()) throw ConfigError("missing ENV (one of: " + envs::registered_env_names() + ")");
    if (r.out.empty()) throw ConfigError("missing --out FILE.gif|DIR");
    if (r.fps < 1 || r.fps > 100) throw ConfigError("--fps must be in [1, 100], got " + std::to_string(r.fps));
    r.record.validate();
  });
}

int render_command(RenderArgs& r) {
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
}

}  // namespace mnemo::launch
