/**
 * A process's CPU time and memory read from outside, through /proc/<pid>/stat and status (Linux). A busy broker can take seconds
 * to answer a `mark` over IPC (a raw-ws forwarder spends whole seconds in one event-loop turn at full
 * fan-out), which would stretch its CPU window far past the subscribers' window; reading the kernel's
 * counters at the moment of the mark keeps the windows aligned whatever the child is doing.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Kernel clock ticks per second for utime/stime; 100 on every common Linux build. */
const TICKS_PER_SECOND = readTicksPerSecond()

function readTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
  } catch {
    return 100
  }
}

/** User and system CPU seconds of process `pid` (all its threads), or undefined where /proc is not available. */
export function cpuTimesOf(pid: number | undefined): { readonly userS: number; readonly systemS: number } | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is parenthesised and may contain spaces: utime is 14th, stime 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined
    return { userS: utime / TICKS_PER_SECOND, systemS: stime / TICKS_PER_SECOND }
  } catch {
    return undefined
  }
}

/** User + system CPU seconds of process `pid`, or undefined where /proc is not available. */
export function cpuSecondsOf(pid: number | undefined): number | undefined {
  const times = cpuTimesOf(pid)
  return times === undefined ? undefined : times.userS + times.systemS
}

/**
 * CPU seconds the whole machine spent busy (every process, ours and anyone else's: /proc/stat's first line less
 * idle and iowait), or undefined where /proc is not available. Over a window, against the cores our processes
 * used, it tells how much of the machine others took.
 */
export function machineBusySeconds(): number | undefined {
  try {
    return parseMachineBusy(readFileSync('/proc/stat', 'utf8'))
  } catch {
    return undefined
  }
}

/** `cpu  user nice system idle iowait irq softirq steal …` in ticks → busy seconds. */
export function parseMachineBusy(stat: string, ticksPerSecond = TICKS_PER_SECOND): number | undefined {
  const line = stat.split('\n', 1)[0] ?? ''
  if (!line.startsWith('cpu ')) return undefined
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number)
  if (ticks.length < 5 || ticks.some((t) => !Number.isFinite(t))) return undefined
  const total = ticks.reduce((sum, t) => sum + t, 0)
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0)
  return (total - idle) / ticksPerSecond
}

/** Resident set size now (VmRSS) and its peak (VmHWM) of process `pid`, in bytes; 0 where /proc is not available. */
export function memoryOf(pid: number | 'self'): { readonly rss: number; readonly peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024
    return { rss: kib('VmRSS'), peak: kib('VmHWM') }
  } catch {
    return { rss: 0, peak: 0 }
  }
}
