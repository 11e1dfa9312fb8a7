/** What the broker needs to know about a peer's IP address. */

/**
 * True for a loopback address: 127.0.0.0/8, ::1, and IPv4-mapped 127.x. Per-address limits left at their
 * defaults do not count loopback peers (README "Security"): one machine's load test is one address.
 * @example isLoopback('127.0.0.1') // true
 */
export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.')
}
