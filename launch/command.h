// How a `mnemo` command declares its command line, parsed by Boost.Program_options. The command
// table (command_table(), in launch/cli.cc) lists every command with its synopsis, summary and
// two functions from the command's own file: one binds the command's flags and positional
// arguments to the fields of its options struct (CommandArgs), the other runs it with the parsed
// struct. Every flag that takes a value accepts `--flag value` and `--flag=value`; switches take
// none; `--set` repeats; `-h`/`--help` prints the command's usage. Bad input is a ConfigError
// naming the flag (exit code 2).
#pragma once

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/value_semantic.hpp>
#include <boost/program_options/variables_map.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace mnemo::launch {

namespace po = boost::program_options;

namespace detail {
// The whole token as a decimal integer in [lo, hi]; throws a po::error whose message names the
// flag (Program_options fills in %canonical_option%): "--episodes expects an integer, got 'x'".
long long parse_integer(const std::string& token, long long lo, unsigned long long hi);
}  // namespace detail

// The value of an integer flag: a decimal integer of type T, the whole token ("5x" and "" are
// errors, as are values outside T's range and, for unsigned T, negative ones).
template <class T>
class IntegerValue final : public po::typed_value<T> {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);

 public:
  explicit IntegerValue(T* target) : po::typed_value<T>(target) {}

 protected:
  void xparse(boost::any& store, const std::vector<std::string>& tokens) const override {
    po::validators::check_first_occurrence(store);
    const std::string& token = po::validators::get_single_string(tokens);
    store = static_cast<T>(detail::parse_integer(token, static_cast<long long>(std::numeric_limits<T>::min()),
                                                 static_cast<unsigned long long>(std::numeric_limits<T>::max())));
  }
};

// Flag values: `value_name` is what the usage shows after the flag (--episodes N).
template <class T>
po::typed_value<T>* integer(T* target, const char* value_name = "N") {
  auto* v = new IntegerValue<T>(target);
  v->value_name(value_name);
  return v;
}
// An integer flag whose absence is meaningful (std::nullopt: not given).
template <class T>
po::typed_value<T>* integer(std::optional<T>* target, const char* value_name = "N") {
  auto* v = new IntegerValue<T>(nullptr);
  v->value_name(value_name);
  v->notifier([target](const T& x) { *target = x; });
  return v;
}
po::typed_value<std::string>* text(std::string* target, const char* value_name);
// A flag that may be given many times, each value appended (--set K=V --set K2=V2).
po::typed_value<std::vector<std::string>>* repeated(std::vector<std::string>* target, const char* value_name);
// A switch: true when given (never with a value), else false.
po::typed_value<bool>* flag(bool* target);

// One command's command line: its flags (a po::options_description) and positional arguments,
// bound to the fields of the command's options struct. Declare everything, then parse() once.
class CommandArgs {
 public:
  CommandArgs();
  CommandArgs(const CommandArgs&) = delete;
  CommandArgs& operator=(const CommandArgs&) = delete;

  // Declares flags: `args.flags()("episodes", integer(&o.episodes), "help text")("seed", ...)`.
  // A name "out,o" also accepts -o.
  po::options_description_easy_init flags() { return flags_.add_options(); }
  // Declares the next positional argument, a required one ("missing NAME" without it) or an
  // optional one, or all remaining positional arguments (any number). NAME is as the usage
  // writes it (RUN_DIR|CHECKPOINT_DIR).
  void positional(const std::string& name, std::string* target);
  void optional_positional(const std::string& name, std::string* target);
  void positionals(const std::string& name, std::vector<std::string>* target);
  // Adds a check run at the end of parse(), in order: validate() calls and rules across flags.
  void check(std::function<void()> f) { checks_.push_back(std::move(f)); }

  // Parses the arguments after the command's name into the bound fields, then runs the checks.
  // Throws ConfigError naming the flag or argument: an unknown flag (with the nearest one), a
  // missing or unexpected value, a value of the wrong type, a flag given twice, a missing or
  // extra positional argument.
  void parse(const std::vector<std::string>& args);
  // Whether `flag` (its long name, without dashes) was on the command line; after parse().
  bool given(const std::string& flag) const {
    const auto it = vm_.find(flag);
    return it != vm_.end() && !it->second.defaulted();  // a switch not given is a defaulted false
  }

  // The flags, as `--help` lists them.
  const po::options_description& options() const { return flags_; }

 private:
  struct Positional {
    std::string name;
    std::string* one = nullptr;
    std::vector<std::string>* rest = nullptr;
    bool required = false;
  };
  po::options_description flags_;
  std::vector<Positional> positionals_;
  std::vector<std::function<void()>> checks_;
  po::variables_map vm_;
  bool help_ = false;
};

// The function that runs a command once its CommandArgs has parsed the command line: returns
// the exit code (0 ok; kTrialInterrupted for `sweep --trial`); throws ConfigError for bad input
// (exit code 2) and anything else for a failure (exit code 1).
using CommandRun = std::function<int()>;

// One row of the command table.
struct Command {
  std::string name;                   // mnemo NAME
  std::vector<std::string> synopsis;  // what follows `mnemo NAME`, one entry per form
  std::string summary;                // what it does, for `mnemo help` (lines joined by '\n')
  std::string notes;                  // further text for `mnemo NAME --help` ("" for none)
  // Binds the command's flags and positional arguments on `args` to an options struct it owns,
  // and returns what runs the command with it.
  std::function<CommandRun(CommandArgs& args)> bind;
};

// Command::bind from a command's two functions: `declare` binds the command line to an Options,
// `run` runs the command with the parsed Options.
template <class Options>
std::function<CommandRun(CommandArgs&)> bind_command(void (*declare)(CommandArgs&, Options&), int (*run)(Options&)) {
  return [declare, run](CommandArgs& args) -> CommandRun {
    auto options = std::make_shared<Options>();
    declare(args, *options);
    return [options, run] { return run(*options); };
  };
}

// Every `mnemo` command, in the order `mnemo help` lists them (launch/cli.cc).
const std::vector<Command>& command_table();
// The command called `name`, or nullptr.
const Command* find_command(const std::string& name);

// `mnemo help`: every command's synopsis and summary.
std::string cli_usage();
// `mnemo NAME --help`: the synopsis, summary, flags and notes.
std::string command_usage(const Command& command, const CommandArgs& args);
// The synopsis alone, printed after an error message.
std::string command_synopsis(const Command& command);

}  // namespace mnemo::launch
