"""Read CPU time and peak RSS of a process tree from /proc.

Usage: procstat.py cpu|hwm|reset-hwm|pids ROOT_PID

cpu        prints utime+stime in microseconds, summed over ROOT_PID and
           all its descendants (each /proc/PID/stat already covers every
           thread of that process)
hwm        prints VmHWM in KiB, summed over the same processes
reset-hwm  resets VmHWM of the same processes to their current RSS
           (writes 5 to /proc/PID/clear_refs, Linux 4.0 or later)
pids       prints the PIDs, one a line
"""

import os
import sys

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def read_stat(pid):
    """Return the fields of /proc/PID/stat after the command name."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name is in parentheses and may contain spaces.
    return text[text.rindex(")") + 2:].split()


def list_tree(root):
    """Return ROOT and every descendant that is still alive."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(read_stat(name)[1])
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_us(pids):
    total = 0
    for pid in pids:
        try:
            fields = read_stat(pid)
        except OSError:
            continue
        # utime and stime are fields 14 and 15 of proc(5), in clock ticks.
        total += int(fields[11]) + int(fields[12])
    return total * 1000000 // CLOCK_TICKS


def hwm_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def reset_hwm(pids):
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            continue


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    command, root = sys.argv[1], int(sys.argv[2])
    if not os.path.exists(f"/proc/{root}"):
        sys.exit(f"procstat: process {root} not found")
    pids = list_tree(root)
    if command == "cpu":
        print(cpu_us(pids))
    elif command == "hwm":
        print(hwm_kib(pids))
    elif command == "reset-hwm":
        reset_hwm(pids)
    elif command == "pids":
        print("\n".join(map(str, pids)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
