// The machine's process table, for finding everything a service started. Process groups are not
// enough: BentoML's workers run in sessions of their own (circus calls setsid), so they leave the
// server's group and survive a SIGKILL of it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** CPU seconds (user + system) used so far; 0 where /proc is not available. */
  cpuSeconds: number;
}

const USER_HZ = 100; // clock ticks per second in /proc/<pid>/stat on Linux

/** Every process visible now: from /proc on Linux, from `ps` elsewhere (macOS). */
export function processTable(): ProcessInfo[] {
  return fs.existsSync('/proc/self/stat') ? fromProc() : fromPs();
}

/** `root` and all its descendants in `table` (children, their children, …). */
export function processTree(root: number, table: ProcessInfo[] = processTable()): Set<number> {
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table)
      if (tree.has(p.ppid) && !tree.has(p.pid)) {
        tree.add(p.pid);
        grew = true;
      }
  }
  return tree;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function fromProc(): ProcessInfo[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        // fields after "pid (comm) ": the command name may itself hold spaces and parentheses
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const cpuTicks = Number(fields[11]) + Number(fields[12]);
        return [{ pid: Number(pid), ppid: Number(fields[1]), cpuSeconds: cpuTicks / USER_HZ }];
      } catch {
        return []; // exited while we read the table
      }
    });
}

function fromPs(): ProcessInfo[] {
  return execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .map(([pid = 0, ppid = 0]) => ({ pid, ppid, cpuSeconds: 0 }));
}
