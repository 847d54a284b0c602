// Command-line parsing for the `mnemo` commands with Boost.Program_options. See command.h.
#include "launch/command.h"

#include <boost/program_options/errors.hpp>
#include <boost/program_options/parsers.hpp>

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "core/check.h"
#include "core/config.h"

namespace mnemo::launch {

namespace detail {

long long parse_integer(const std::string& token, long long lo, unsigned long long hi) {
  auto fail = [&](const std::string& why) {
    po::error_with_option_name e("%canonical_option% " + why);
    e.set_substitute("value", token);
    throw e;
  };
  // strtoll alone would accept leading spaces and a '+'; the token must be the number.
  const bool negative = !token.empty() && token[0] == '-';
  const std::size_t digits = negative ? 1 : 0;
  if (token.size() == digits || token.find_first_not_of("0123456789", digits) != std::string::npos)
    fail("expects an integer, got '%value%'");
  if (negative && lo == 0) fail("must be >= 0, got %value%");
  errno = 0;
  if (negative) {
    const long long x = std::strtoll(token.c_str(), nullptr, 10);
    if (errno == ERANGE || x < lo) fail("is out of range (at least " + std::to_string(lo) + "), got %value%");
    return x;
  }
  const unsigned long long x = std::strtoull(token.c_str(), nullptr, 10);
  if (errno == ERANGE || x > hi) fail("is out of range (at most " + std::to_string(hi) + "), got %value%");
  // Callers convert back to T, whose range [lo, hi] holds x.
  return static_cast<long long>(x);
}

}  // namespace detail

po::typed_value<std::string>* text(std::string* target, const char* value_name) {
  return po::value<std::string>(target)->value_name(value_name);
}

po::typed_value<std::vector<std::string>>* repeated(std::vector<std::string>* target, const char* value_name) {
  return po::value<std::vector<std::string>>(target)->value_name(value_name)->composing();
}

po::typed_value<bool>* flag(bool* target) { return po::bool_switch(target); }

CommandArgs::CommandArgs() : flags_("options", /*line_length=*/100) { flags()("help,h", flag(&help_), "print this command's usage"); }

void CommandArgs::positional(const std::string& name, std::string* target) {
  positionals_.push_back({name, target, nullptr, true});
}

void CommandArgs::optional_positional(const std::string& name, std::string* target) {
  positionals_.push_back({name, target, nullptr, false});
}

void CommandArgs::positionals(const std::string& name, std::vector<std::string>* target) {
  positionals_.push_back({name, nullptr, target, false});
}

void CommandArgs::parse(const std::vector<std::string>& args) {
  namespace style = po::command_line_style;
  // Unix style without abbreviated flags (a prefix of a flag is unknown, not that flag: adding a
  // flag later must not change what an existing command line means) and without -abc bundles.
  const int kStyle = style::allow_long | style::long_allow_adjacent | style::long_allow_next | style::allow_short |
                     style::short_allow_adjacent | style::short_allow_next | style::allow_dash_for_short;
  std::vector<std::string> free;
  try {
    const po::parsed_options parsed = po::command_line_parser(args).options(flags_).style(kStyle).run();
    po::store(parsed, vm_);
    po::notify(vm_);
    free = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::unknown_option& e) {
    const std::string token = e.get_option_name();
    const std::string name = token.substr(0, token.find('='));
    std::vector<std::string> known;
    for (const auto& o : flags_.options()) known.push_back("--" + o->long_name());
    const std::string near = config::nearest(name, known);
    throw ConfigError("unknown option '" + name + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)"));
  } catch (const po::invalid_syntax& e) {
    if (e.kind() == po::invalid_syntax::missing_parameter || e.kind() == po::invalid_syntax::empty_adjacent_parameter)
      throw ConfigError(e.get_option_name() + " needs a value");
    if (e.kind() == po::invalid_syntax::extra_parameter) throw ConfigError(e.get_option_name() + " takes no value");
    throw ConfigError(e.what());
  } catch (const po::multiple_occurrences& e) {
    throw ConfigError(e.get_option_name() + " is given more than once");
  } catch (const po::error& e) {
    throw ConfigError(e.what());
  }

  std::size_t next = 0;
  for (const Positional& p : positionals_) {
    if (p.rest != nullptr) {
      p.rest->assign(free.begin() + static_cast<std::ptrdiff_t>(next), free.end());
      next = free.size();
    } else if (next < free.size()) {
      *p.one = free[next++];
    } else if (p.required) {
      throw ConfigError("missing " + p.name);
    }
  }
  if (next < free.size()) {
    if (positionals_.empty()) throw ConfigError("unexpected argument '" + free[next] + "'");
    const Positional& last = positionals_.back();
    throw ConfigError("expected one " + last.name + ", got '" + *last.one + "' and '" + free[next] + "'");
  }
  for (const auto& c : checks_) c();
}

const Command* find_command(const std::string& name) {
  for (const Command& c : command_table())
    if (c.name == name) return &c;
  return nullptr;
}

namespace {

// `lead` then `text`, whose further lines are indented to where the first line's text began.
std::string hanging(const std::string& lead, const std::string& text) {
  std::string out = lead;
  for (char ch : text) {
    out += ch;
    if (ch == '\n') out += std::string(lead.size(), ' ');
  }
  return out + "\n";
}

std::string usage_lines(const Command& c) {
  if (c.synopsis.empty()) return "usage: mnemo " + c.name + "\n";
  std::string out;
  for (std::size_t i = 0; i < c.synopsis.size(); ++i) {
    const std::string lead = (i == 0 ? "usage: mnemo " : "       mnemo ") + c.name + " ";
    out += hanging(lead, c.synopsis[i]);
  }
  return out;
}

}  // namespace

std::string cli_usage() {
  std::string out =
      "usage: mnemo <command> [options]    (mnemo <command> --help: the command's options)\n"
      "every flag takes its value as --flag VALUE or --flag=VALUE\n\ncommands:\n";
  const std::string indent(23, ' ');
  for (const Command& c : command_table()) {
    for (const auto& form : c.synopsis) out += hanging("  " + c.name + " ", form);
    if (c.synopsis.empty()) out += "  " + c.name + "\n";
    out += hanging(indent, c.summary);
  }
  out += "  help [COMMAND]       this text, or a command's usage\n";
  return out;
}

std::string command_usage(const Command& c, const CommandArgs& args) {
  std::ostringstream o;
  o << usage_lines(c) << c.summary << "\n\n" << args.options();
  if (!c.notes.empty()) o << "\n" << c.notes;
  return o.str();
}

std::string command_synopsis(const Command& c) {
  return usage_lines(c) + "run 'mnemo " + c.name + " --help' for its options\n";
}

}  // namespace mnemo::launch
