/**
 * The monitor's topics panel: one block per durable topic with two fill bars (messages against `maxMsgs`,
 * bytes against `maxBytes`), the sequences it holds, and its consumer groups with their in-flight counts.
 * Built from the `topics` rows of `$SYS.stats`; text is set with `textContent`, never as HTML.
 *
 * Browser only.
 */
import type { TopicGroupReport, TopicReport } from '../../stats-report.ts'
import { bytes, compact } from './format.ts'

/** A bar at or past this fill is drawn in the warning colour: the next messages evict (or are refused). */
const NEARLY_FULL = 0.9

/** `12345` → `12,345`: sequences are exact, so not compacted. */
function grouped(n: number): string {
  return n.toLocaleString('en-US')
}

function el(tag: string, className: string, text?: string): HTMLElement {
  const e = document.createElement(tag)
  e.className = className
  if (text !== undefined) e.textContent = text
  return e
}

/** `label [████░░░░] used / limit`; without a limit, the count alone on an empty track. */
function fillBar(label: string, used: number, limit: number | null, format: (n: number) => string): HTMLElement {
  const row = el('div', 'fill')
  row.dataset.kind = label
  const track = el('div', 'track')
  if (limit !== null && limit > 0) {
    const ratio = Math.min(1, used / limit)
    const level = el('div', ratio >= NEARLY_FULL ? 'level warn' : 'level')
    level.style.width = `${(ratio * 100).toFixed(1)}%`
    track.append(level)
    row.dataset.ratio = ratio.toFixed(3)
  }
  row.append(el('span', 'k', label), track, el('span', 'n', limit === null ? `${format(used)} (no limit)` : `${format(used)} / ${format(limit)}`))
  return row
}

/** `workers: 2 members · 100 in flight · 1.2k acked`, plus redeliveries and dead letters when there are any. */
function groupLine(g: TopicGroupReport): HTMLElement {
  const parts = [`${g.members} member${g.members === 1 ? '' : 's'}`, `${compact(g.inFlight)} in flight`, `${compact(g.acked)} acked`]
  if (g.redeliveries > 0) parts.push(`${compact(g.redeliveries)} to redeliver`)
  if (g.deadLettered > 0) parts.push(`${compact(g.deadLettered)} dead-lettered`)
  const line = el('div', g.deadLettered > 0 || g.members === 0 ? 'group warn' : 'group')
  line.dataset.group = g.name
  line.append(el('b', '', g.name), document.createTextNode(`: ${parts.join(' · ')}`))
  return line
}

function topicBlock(t: TopicReport): HTMLElement {
  const block = el('div', 'topic')
  block.dataset.topic = t.name
  const head = el('div', 'head')
  const seq = t.messages === 0 ? `empty, last seq ${grouped(t.lastSeq)}` : `seq ${grouped(t.firstSeq)}–${grouped(t.lastSeq)}`
  head.append(el('b', '', t.name), el('span', 'dim', t.subjects.join(', ')), el('span', 'seq dim', seq))
  // A file topic says so, with its bytes on disk (memory is the default: nothing to say); sequences lost at
  // recovery are shown as a warning.
  if (t.storage !== 'memory') head.append(el('span', 'dim', t.storage === 'file' ? `file, ${bytes(t.diskBytes)} on disk` : t.storage))
  block.append(head, fillBar('messages', t.messages, t.capacity, compact), fillBar('bytes', t.bytes, t.maxBytes, bytes))
  if (t.lost.length > 0) {
    const lost = t.lost.reduce((n, r) => n + r.toSeq - r.fromSeq + 1, 0)
    block.append(el('div', 'group warn', `lost at recovery: ${grouped(lost)} message${lost === 1 ? '' : 's'} (${t.lost.slice(0, 3).map((r) => `${r.fromSeq}–${r.toSeq}`).join(', ')}${t.lost.length > 3 ? ', …' : ''})`))
  }
  for (const g of t.consumers) block.append(groupLine(g))
  if (t.groups > t.consumers.length) {
    const more = document.createElement('div')
    more.className = 'group'
    more.textContent = `… and ${t.groups - t.consumers.length} more groups`
    block.append(more)
  }
  return block
}

/** Redraws the panel (a handful of topics, once a second: rebuilding is cheaper than diffing). */
export function renderTopics(host: HTMLElement, topics: readonly TopicReport[]): void {
  host.replaceChildren()
  if (topics.length === 0) {
    host.append(el('div', 'empty', 'no topics (subwire topics add, or the broker option topics)'))
    return
  }
  for (const t of topics) host.append(topicBlock(t))
}
