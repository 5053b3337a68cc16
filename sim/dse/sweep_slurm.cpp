#include "sim/dse/sweep_slurm.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "quant/atomic_file.hpp"
#include "sim/dse/run_process.hpp"
#include "sim/dse/sweep.hpp"

namespace vitsim::sim {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string slurm_conf_hint() {
  const char* conf = std::getenv("SLURM_CONF");
  return conf ? std::string("SLURM_CONF=") + conf : std::string("SLURM_CONF is not set");
}

std::string trimmed(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

std::optional<int> parse_index(const std::string& text) {
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; }))
    return std::nullopt;
  return std::stoi(text);
}

/// A task id list as scontrol prints it for tasks not yet split off the array: "3", "1-3,5", "0-7%2".
std::vector<int> parse_task_list(const std::string& text) {
  try {
    return parse_point_list(text.substr(0, text.find('%')));
  } catch (const std::invalid_argument&) {
    return {};  // not a list of task ids
  }
}

/// Runs a Slurm client; a client that cannot be executed or does not answer is an environment problem
/// (exit 2) with Slurm's own words.
ProcessResult run_slurm_client(const std::vector<std::string>& argv, const SlurmOptions& options) {
  ProcessResult result = run_process(argv, options.client_timeout_seconds);
  if (!result.started) {
    throw std::invalid_argument("vitsim sweep --backend slurm: cannot run '" + argv[0] + "' (" +
                                result.exec_error +
                                "): Slurm's client commands are not installed here (Debian: slurm-client)");
  }
  if (result.timed_out) {
    std::ostringstream msg;
    msg << "vitsim sweep --backend slurm: '" << argv[0] << "' did not answer within "
        << options.client_timeout_seconds << " s: is the Slurm controller running and reachable ("
        << slurm_conf_hint() << ")?";
    throw std::invalid_argument(msg.str());
  }
  if (result.exit_code != 0 &&
      result.err.find("Could not establish a configuration source") != std::string::npos) {
    throw std::invalid_argument(
        "vitsim sweep --backend slurm: no Slurm configuration found (" + slurm_conf_hint() +
        ", and neither /etc/slurm/slurm.conf nor a DNS SRV record gives one): " + trimmed(result.err));
  }
  return result;
}

bool job_is_unknown(const ProcessResult& result) {
  // squeue -j of a job the controller has purged (MinJobAge after its end).
  return result.exit_code != 0 && result.err.find("Invalid job id") != std::string::npos;
}

// A JobState after which the task runs no more: squeue -j still lists such a task until the controller
// purges it (MinJobAge), so a rerun must not take it for one still queued or running.
bool is_final_state(const std::string& state) {
  static const std::set<std::string> final_states = {"BOOT_FAIL", "CANCELLED",     "COMPLETED",   "DEADLINE",
                                                     "FAILED",    "NODE_FAIL",     "PREEMPTED",   "REVOKED",
                                                     "TIMEOUT",   "OUT_OF_MEMORY", "SPECIAL_EXIT"};
  return final_states.count(state) > 0;
}

struct TaskState {
  std::string state = "unknown";  // Slurm's JobState
  std::string exit_code;          // "code:signal"
  std::string reason;
};

/// The array's task states from `scontrol show job -o JOB` (one line per task; kept MinJobAge after the end).
std::map<int, TaskState> array_task_states(const std::string& job, const SlurmOptions& options) {
  std::map<int, TaskState> states;
  const ProcessResult result =
      run_process({"scontrol", "show", "job", "-o", job}, options.client_timeout_seconds);
  if (!result.started || result.timed_out || result.exit_code != 0) return states;
  for (const std::string& line : split(result.out, '\n')) {
    std::vector<int> tasks;
    TaskState state;
    std::istringstream fields(line);
    std::string field;
    while (fields >> field) {
      const size_t eq = field.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = field.substr(0, eq), value = field.substr(eq + 1);
      if (key == "ArrayTaskId") tasks = parse_task_list(value);
      if (key == "JobState") state.state = value;
      if (key == "ExitCode") state.exit_code = value;
      if (key == "Reason" && value != "None") state.reason = value;
    }
    for (int task : tasks) states[task] = state;
  }
  return states;
}

std::string log_tail(const std::string& path, size_t max_lines) {
  std::ifstream in(path);
  if (!in) return "(no log: the task never started, or " + path + " is not visible here)";
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > max_lines) lines.erase(lines.begin());
  }
  std::string tail;
  for (const std::string& l : lines) tail += (tail.empty() ? "" : " | ") + l;
  return tail.empty() ? "(empty log)" : tail;
}

struct SlurmPaths {
  fs::path root;  // DIR, absolute
  fs::path slurm_dir() const { return root / "slurm"; }
  fs::path task_script() const { return slurm_dir() / "task.sh"; }
  fs::path jobs_file() const { return slurm_dir() / "jobs.txt"; }
  fs::path task_log(const std::string& job, int task) const {
    return slurm_dir() / (job + "_" + std::to_string(task) + ".log");
  }
};

/// The array task that runs a point.
struct TaskOf {
  std::string job;
  int task = 0;
};

/// A batch file: line k holds the points of array task k ("0-3,7").
std::vector<std::vector<int>> read_batches(const fs::path& file) {
  std::vector<std::vector<int>> batches;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) batches.push_back(parse_task_list(trimmed(line)));
  return batches;
}

/// The recorded arrays' tasks that are still queued or running: their points, with the task of each.
std::map<int, TaskOf> tasks_in_flight(const SlurmPaths& paths, const SlurmOptions& options) {
  std::map<int, TaskOf> in_flight;
  std::ifstream in(paths.jobs_file());
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string job, batch_file;
    if (!(fields >> job >> batch_file)) continue;
    const std::vector<std::vector<int>> batches = read_batches(paths.slurm_dir() / batch_file);
    const ProcessResult result =
        run_slurm_client({"squeue", "-h", "-r", "-j", job, "-o", "%K|%o|%T"}, options);
    if (job_is_unknown(result)) continue;
    if (result.exit_code != 0) {
      throw std::invalid_argument("vitsim sweep --backend slurm: squeue failed for job " + job +
                                  " (recorded in " + paths.jobs_file().string() +
                                  "): " + trimmed(result.err));
    }
    // A job id of another cluster (or reused) runs another script: only our task.sh counts.
    for (const std::string& row : split(result.out, '\n')) {
      const std::vector<std::string> parts = split(row, '|');
      if (parts.size() != 3 || trimmed(parts[1]) != paths.task_script().string()) continue;
      if (is_final_state(trimmed(parts[2]))) continue;  // ended: its points without result.json run again
      const std::optional<int> task = parse_index(trimmed(parts[0]));
      if (!task || static_cast<size_t>(*task) >= batches.size()) continue;
      for (const int index : batches[static_cast<size_t>(*task)]) in_flight[index] = TaskOf{job, *task};
    }
  }
  return in_flight;
}

void write_task_script(const SlurmPaths& paths, const std::string& spec_path) {
  std::ostringstream script;
  script
      << "#!/bin/sh\n"
      << "# Written by `vitsim sweep --backend slurm`: array task K runs the batch of sweep points on line\n"
      << "# K + 1 of the batch file its submission names in VITSIM_SWEEP_BATCHES (DIR/slurm/batches-*.txt).\n"
      << "points=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$VITSIM_SWEEP_BATCHES\")\n"
      << "if [ -z \"$points\" ]; then\n"
      << "  echo \"no batch $SLURM_ARRAY_TASK_ID in '$VITSIM_SWEEP_BATCHES'\" >&2\n"
      << "  exit 2\n"
      << "fi\n"
      << "exec " << shell_quote(current_executable_path()) << " sweep " << shell_quote(spec_path) << " --out "
      << shell_quote(paths.root.string()) << " --points \"$points\"\n";
  quant::write_file_atomic(paths.task_script().string(), script.str());
  fs::permissions(paths.task_script(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                           fs::perms::others_read | fs::perms::others_exec);
}

/// Submits one array whose task k runs batches[k]; returns its job id.
std::string submit_array(const SlurmPaths& paths, const std::vector<std::vector<int>>& batches,
                         const SlurmOptions& options) {
  // The batch file is named by its content: a rerun that submits the same batches rewrites the same bytes.
  std::string lines;
  for (const std::vector<int>& batch : batches) lines += slurm_array_list(batch) + "\n";
  std::ostringstream name;
  name << "batches-" << std::hex << std::hash<std::string>{}(lines) << ".txt";
  const fs::path batch_file = paths.slurm_dir() / name.str();
  quant::write_file_atomic(batch_file.string(), lines);
  std::vector<std::string> argv = {"sbatch",
                                   "--parsable",
                                   "--array=0-" + std::to_string(batches.size() - 1),
                                   "--export=ALL,VITSIM_SWEEP_BATCHES=" + batch_file.string(),
                                   "--job-name=vitsim-sweep",
                                   "--output=" + (paths.slurm_dir() / "%A_%a.log").string(),
                                   "--chdir=" + paths.root.string()};
  if (!options.partition.empty()) argv.push_back("--partition=" + options.partition);
  if (!options.time.empty()) argv.push_back("--time=" + options.time);
  if (!options.mem.empty()) argv.push_back("--mem=" + options.mem);
  if (options.cpus > 0) argv.push_back("--cpus-per-task=" + std::to_string(options.cpus));
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  argv.push_back(paths.task_script().string());

  const ProcessResult result = run_slurm_client(argv, options);
  // --parsable prints "<job id>" or "<job id>;<cluster>".
  const std::string job = trimmed(result.out.substr(0, result.out.find(';')));
  if (result.exit_code != 0 || job.empty() || !parse_index(job)) {
    std::string message = "vitsim sweep --backend slurm: sbatch rejected the job array (exit code " +
                          std::to_string(result.exit_code) + ", " + slurm_conf_hint() +
                          "): " + trimmed(result.err);
    if (result.err.find("array") != std::string::npos) {
      message += " (the array has " + std::to_string(batches.size()) +
                 " tasks; the cluster's MaxArraySize bounds them: raise --batch-size)";
    }
    throw std::invalid_argument(message);
  }
  std::string jobs;
  if (std::ifstream in{paths.jobs_file()}) jobs.assign(std::istreambuf_iterator<char>(in), {});
  std::vector<int> indices;
  for (const std::vector<int>& batch : batches) indices.insert(indices.end(), batch.begin(), batch.end());
  jobs += job + " " + name.str() + " " + slurm_array_list(indices) + "\n";
  quant::write_file_atomic(paths.jobs_file().string(), jobs);
  return job;
}

struct QueueCounts {
  int pending = 0, running = 0, other = 0;
  bool operator==(const QueueCounts& o) const {
    return pending == o.pending && running == o.running && other == o.other;
  }
};

}  // namespace

bool slurm_options_unset(const SlurmOptions& o) {
  const SlurmOptions d;
  return o.partition == d.partition && o.time == d.time && o.mem == d.mem && o.cpus == d.cpus &&
         o.extra_args == d.extra_args && o.poll_seconds == d.poll_seconds &&
         o.deadline_seconds == d.deadline_seconds && o.client_timeout_seconds == d.client_timeout_seconds &&
         o.batch_size == d.batch_size;
}

std::string slurm_array_list(std::vector<int> indices) {
  std::sort(indices.begin(), indices.end());
  indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
  std::string list;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    if (!list.empty()) list += ',';
    list += std::to_string(indices[i]);
    if (j > i) list += '-' + std::to_string(indices[j]);
    i = j + 1;
  }
  return list;
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::vector<std::vector<int>> slurm_batches(const std::vector<int>& indices, int batch_size) {
  const size_t size = batch_size > 0
                          ? static_cast<size_t>(batch_size)
                          : std::max<size_t>(1, (indices.size() + kMaxArrayTasks - 1) / kMaxArrayTasks);
  std::vector<std::vector<int>> batches;
  for (size_t i = 0; i < indices.size(); i += size)
    batches.emplace_back(indices.begin() + static_cast<std::ptrdiff_t>(i),
                         indices.begin() + static_cast<std::ptrdiff_t>(std::min(i + size, indices.size())));
  return batches;
}

int run_slurm_sweep(const SweepSpec& spec, const std::string& spec_path, std::vector<SweepPoint>& points,
                    const SweepDir& dir, const SlurmOptions& options, std::ostream& out, std::ostream& err) {
  const Clock::time_point start = Clock::now();
  init_sweep_dir(spec, points, dir);
  SlurmPaths paths{fs::absolute(dir.root).lexically_normal()};
  fs::create_directories(paths.slurm_dir());
  bool stopped = false;  // the deadline passed, or the controller stayed unreachable

  // One step of the search: its pending points as one array of batches, waited for.
  const auto run_step = [&](const std::vector<int>& chosen, int) {
    std::vector<int> waiting;
    for (const int i : chosen)
      if (points[static_cast<size_t>(i)].filtered.empty() && !fs::is_regular_file(dir.result(i)))
        waiting.push_back(i);
    // The quantized graphs are computed here, once, so that the tasks only load them.
    std::vector<int> pending = prepare_points(spec, points, dir, waiting, err);
    // Tasks of an earlier submission still queued or running are waited for, not submitted again.
    // (Only points without result.json can be in flight: with none pending, Slurm is not even asked.)
    std::map<int, TaskOf> task_of_point;
    if (!pending.empty()) task_of_point = tasks_in_flight(paths, options);
    for (auto it = task_of_point.begin(); it != task_of_point.end();)
      it = std::find(pending.begin(), pending.end(), it->first) == pending.end() ? task_of_point.erase(it)
                                                                                 : std::next(it);
    pending.erase(
        std::remove_if(pending.begin(), pending.end(), [&](int i) { return task_of_point.count(i) > 0; }),
        pending.end());
    if (!task_of_point.empty()) {
      err << "slurm: " << task_of_point.size()
          << " points still queued or running from an earlier submission\n";
    }
    if (!pending.empty()) {
      write_task_script(paths, fs::absolute(spec_path).lexically_normal().string());
      const std::vector<std::vector<int>> batches = slurm_batches(pending, options.batch_size);
      const std::string job = submit_array(paths, batches, options);
      for (size_t task = 0; task < batches.size(); ++task)
        for (const int i : batches[task]) task_of_point[i] = TaskOf{job, static_cast<int>(task)};
      err << "slurm: submitted job " << job << " (" << pending.size() << " points in " << batches.size()
          << " array task(s): " << slurm_array_list(pending) << "); logs in " << paths.slurm_dir().string()
          << "\n";
    }
    std::set<std::string> jobs;
    for (const auto& [index, task] : task_of_point) jobs.insert(task.job);

    auto points_done = [&] {
      int done = 0;
      for (const auto& [index, task] : task_of_point) done += fs::exists(dir.result(index)) ? 1 : 0;
      return done;
    };
    std::set<std::string> active = jobs;
    QueueCounts last{-1, -1, -1};
    std::string last_warning;
    Clock::time_point failing_since{};
    while (!active.empty()) {
      QueueCounts counts;
      std::set<std::string> still_active;
      for (const std::string& job : active) {
        const ProcessResult result =
            run_process({"squeue", "-h", "-r", "-j", job, "-o", "%T"}, options.client_timeout_seconds);
        if (result.started && !result.timed_out && (result.exit_code == 0 || job_is_unknown(result))) {
          failing_since = Clock::time_point{};
          // A task in a final state is over even while squeue still lists it: waiting for the controller
          // to purge it (MinJobAge) would also outlast the scontrol record its failed points are named from.
          bool unfinished = false;
          for (const std::string& line : split(result.out, '\n')) {
            const std::string state = trimmed(line);
            if (state.empty() || is_final_state(state)) continue;
            int& count = state == "PENDING"   ? counts.pending
                         : state == "RUNNING" ? counts.running
                                              : counts.other;
            ++count;
            unfinished = true;
          }
          if (unfinished) still_active.insert(job);
          continue;
        }
        // The controller may be briefly unreachable (restart, overload): keep polling, give up after 5 min.
        still_active.insert(job);
        const std::string warning =
            result.timed_out ? "squeue timed out" : trimmed(result.err + result.exec_error);
        if (warning != last_warning) err << "slurm: warning: " << warning << " (still polling)\n";
        last_warning = warning;
        if (failing_since == Clock::time_point{}) failing_since = Clock::now();
        if (seconds_since(failing_since) > 300) {
          err << "slurm: squeue has failed for 5 minutes (" << slurm_conf_hint()
              << "); results.csv holds the points done so far; rerun the same command to resume\n";
          stopped = true;
          return false;
        }
      }
      active = still_active;
      if (!(counts == last)) {
        err << "slurm: " << counts.running << " running, " << counts.pending << " pending";
        if (counts.other > 0) err << ", " << counts.other << " ending";
        err << "; " << points_done() << " of " << task_of_point.size() << " points done ("
            << static_cast<int>(seconds_since(start)) << " s)\n";
        last = counts;
      }
      if (active.empty()) break;
      if (options.deadline_seconds > 0 && seconds_since(start) >= options.deadline_seconds) {
        std::string job_list;
        for (const std::string& job : active) job_list += (job_list.empty() ? "" : ",") + job;
        err << "slurm: deadline of " << options.deadline_seconds << " s passed with job " << job_list
            << " still queued or running; results.csv holds the points done so far; rerun the same command "
               "to wait for the rest\n";
        stopped = true;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(options.poll_seconds));
    }

    // Points whose task ended without their result.json: cancelled, timed out, out of memory, crashed,
    // node failure (the points of a batch after the one that crashed it, too).
    std::map<std::string, std::map<int, TaskState>> states;
    for (const std::string& job : jobs) states[job] = array_task_states(job, options);
    auto missing = [&] {
      std::vector<int> indices;
      for (const auto& [index, task] : task_of_point) {
        if (!fs::exists(dir.result(index))) indices.push_back(index);
      }
      return indices;
    };
    const auto state_of = [&](int index) -> const TaskState& {
      const TaskOf& task = task_of_point[index];
      return states[task.job][task.task];
    };
    // On NFS a file written on a compute node may show up here a little later: give COMPLETED tasks time.
    const Clock::time_point grace_start = Clock::now();
    while (seconds_since(grace_start) < 10) {
      const std::vector<int> late = missing();
      if (std::none_of(late.begin(), late.end(), [&](int i) { return state_of(i).state == "COMPLETED"; })) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    for (int index : missing()) {
      const TaskOf& task = task_of_point[index];
      const TaskState& state = state_of(index);
      const std::string log = paths.task_log(task.job, task.task).string();
      std::string error = "slurm task " + task.job + "_" + std::to_string(task.task) + " (point " +
                          std::to_string(index) + ") ended without result.json: state " + state.state;
      if (!state.exit_code.empty()) error += ", exit code " + state.exit_code;
      if (!state.reason.empty()) error += ", reason " + state.reason;
      error += "; log " + log + ": " + log_tail(log, 10);
      record_failed_point(spec, points.at(static_cast<size_t>(index)), dir, error);
      err << "slurm: point " << index << " failed: " << error << "\n";
    }
    return true;
  };
  run_search(spec, points, &dir, run_step);
  collect_sweep(spec, points, dir, out);
  return stopped ? 1 : 0;
}

}  // namespace vitsim::sim
