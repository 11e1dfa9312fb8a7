/**
 * Queue groups across nodes: for one publish, which node's members take each group's message. A counter per
 * group walks the members of every node in node-id order (this node's first), so the message goes to a node in
 * proportion to its members: 1 member here and 2 on another node take a third and two thirds, as one node's
 * round-robin over all three would.
 */
import type { RoutePlan } from '../cluster-adapter.ts'
import type { GroupShare, Targets } from './remote-interest.ts'

/**
 * Queue groups a node was chosen for but could not deliver to (its member left, may not receive the subject,
 * is at its cap): each goes once to another node with members, so a group with a member able to take the
 * message somewhere gets it. A rerouted message is never passed on again (no loops); `misses` found no node.
 */
export function rerouteChoice(turns: GroupTurns, targets: Targets, missed: readonly string[], self: string): { chosen: Map<string, string[]>; misses: number } {
  const chosen = new Map<string, string[]>()
  let misses = 0
  for (const queue of missed) {
    const shares = targets.groups.get(queue)
    const node = shares === undefined ? null : turns.elsewhere(queue, shares, self)
    if (node === null) { misses++; continue }
    const list = chosen.get(node)
    if (list === undefined) chosen.set(node, [queue])
    else list.push(queue)
  }
  return { chosen, misses }
}

/** Most groups whose turn is remembered; past it the turns start again (a harmless reset of the rotation). */
const MAX_TURNS = 10_000

/** How a publish goes out: the subject's targets and the queue groups already decided for it. */
export class Plan implements RoutePlan {
  readonly targets: Targets
  readonly replyNode: string | undefined
  /** Queue groups decided by `takeLocal`, whichever way. */
  decided: Set<string> | null = null
  /** node → queue groups it was chosen for. */
  chosen: Map<string, string[]> | null = null

  constructor(targets: Targets, replyNode: string | undefined) {
    this.targets = targets
    this.replyNode = replyNode
  }

  /**
   * The nodes this publish goes to: plain interest, the nodes chosen for a group, the requester's node; never
   * `self`. With plain interest alone (the common case) that is the subject's cached list, not a set per message.
   */
  nodes(self: string): readonly string[] {
    const plain = this.targets.plain
    if (this.chosen === null && this.replyNode === undefined && !plain.includes(self)) return plain
    const nodes = new Set(plain)
    if (this.chosen !== null) for (const id of this.chosen.keys()) nodes.add(id)
    if (this.replyNode !== undefined) nodes.add(this.replyNode)
    nodes.delete(self)
    return [...nodes]
  }

  choose(nodeId: string, queue: string): void {
    const chosen = (this.chosen ??= new Map())
    const list = chosen.get(nodeId)
    if (list === undefined) chosen.set(nodeId, [queue])
    else list.push(queue)
  }
}

export class GroupTurns {
  readonly #turns = new Map<string, number>()

  /**
   * The node whose member gets the next message of `queue`, or null for this node (`localMembers` of them).
   * `except` leaves one node out (one that just failed to deliver it).
   */
  pick(queue: string, shares: readonly GroupShare[], localMembers: number, except: string | null = null): string | null {
    let total = localMembers
    for (const s of shares) if (s.nodeId !== except) total += s.members
    if (total === 0) return null
    let turn = this.#turns.get(queue)
    if (turn === undefined) {
      if (this.#turns.size >= MAX_TURNS) this.#turns.clear()
      turn = 0
    }
    this.#turns.set(queue, turn + 1 >= 2 ** 30 ? 0 : turn + 1)
    let at = turn % total
    if (at < localMembers) return null
    at -= localMembers
    for (const s of shares) {
      if (s.nodeId === except) continue
      if (at < s.members) return s.nodeId
      at -= s.members
    }
    return null
  }

  /** Another node with members of `queue`, other than `except`, or null when there is none. */
  elsewhere(queue: string, shares: readonly GroupShare[], except: string): string | null {
    return shares.some((s) => s.nodeId !== except && s.members > 0) ? this.pick(queue, shares, 0, except) : null
  }
}
