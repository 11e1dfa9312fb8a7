/**
 * Subject grammar (PROTOCOL §3): `.`-separated tokens, each non-empty, with no whitespace, control
 * characters or `.`. In a subscription pattern a token may be `*` (exactly one token) or, as the last token,
 * `>` (one or more tokens). A wildcard must be a whole token: `a*` and `>b` are refused, not taken literally,
 * so that nobody mistakes them for a glob.
 */
import { DEFAULT_LIMITS } from './protocol.ts'
import { SubwireError } from './errors.ts'

const DOT = 46
const STAR = 42
const GT = 62

/** Why a subject is invalid, or `null` when it is valid. */
export type SubjectProblem = string | null

/** True for characters no token may contain: C0/C1 controls, space and the Unicode white-space class. */
function isForbiddenChar(c: number): boolean {
  if (c <= 32 || c === 127) return true
  if (c < 128) return false
  return (c >= 0x80 && c <= 0xa0) || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
}

/**
 * Checks a subject or pattern in one pass over its characters (this runs on every publish, so no split or
 * regular expression). Returns the problem in words, or null.
 */
export function subjectProblem(subject: unknown, wildcards: boolean, maxLength: number = DEFAULT_LIMITS.maxSubjectLength): SubjectProblem {
  if (typeof subject !== 'string') return 'subject must be a string'
  const n = subject.length
  if (n === 0) return 'subject is empty'
  // A UTF-16 unit encodes to at most 3 UTF-8 bytes, so only long subjects need their byte length counted.
  if (n > maxLength || (n * 3 > maxLength && utf8Length(subject) > maxLength)) return `subject is longer than ${maxLength} bytes`
  let tokenStart = 0
  for (let i = 0; i <= n; i++) {
    const c = i === n ? DOT : subject.charCodeAt(i)
    if (c === DOT) {
      const len = i - tokenStart
      if (len === 0) return 'subject has an empty token'
      if (len === 1) {
        const t = subject.charCodeAt(tokenStart)
        if (t === GT && i !== n) return "'>' may only be the last token"
        if ((t === STAR || t === GT) && !wildcards) return 'a published subject may not contain wildcards'
      }
      tokenStart = i + 1
      continue
    }
    if (isForbiddenChar(c)) return 'subject contains white space or a control character'
    if (c >= 0xd800 && c <= 0xdfff) {
      // A lone surrogate has no UTF-8 form: it would reach the wire as U+FFFD, a different subject.
      const low = i + 1 < n ? subject.charCodeAt(i + 1) : 0
      if (c > 0xdbff || low < 0xdc00 || low > 0xdfff) return 'subject contains an unpaired surrogate'
      i++
      continue
    }
    if ((c === STAR || c === GT) && !(i === tokenStart && (i + 1 === n || subject.charCodeAt(i + 1) === DOT))) {
      return "a wildcard ('*' or '>') must be a whole token"
    }
  }
  return null
}

/** A subject for an error message: quoted, and cut short so a hostile subject cannot amplify the reply. */
export function quoteSubject(subject: unknown): string {
  if (typeof subject !== 'string') return String(subject)
  return subject.length <= 64 ? JSON.stringify(subject) : `${JSON.stringify(subject.slice(0, 64))}… (${subject.length} characters)`
}

/** UTF-8 byte length of a string, without allocating (a lone surrogate counts as the 3 bytes of U+FFFD). */
export function utf8Length(s: string): number {
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { bytes += 4; i++ }
    else bytes += 3
  }
  return bytes
}

/** True when `subject` is a valid subject to publish to (no wildcards). */
export function isValidSubject(subject: unknown, maxLength?: number): subject is string {
  return subjectProblem(subject, false, maxLength) === null
}

/** True when `pattern` is a valid subscription pattern (wildcards allowed). */
export function isValidPattern(pattern: unknown, maxLength?: number): pattern is string {
  return subjectProblem(pattern, true, maxLength) === null
}

/** Throws `bad_subject` unless `subject` is publishable. */
export function assertSubject(subject: unknown, maxLength?: number): asserts subject is string {
  const problem = subjectProblem(subject, false, maxLength)
  if (problem !== null) throw new SubwireError('bad_subject', `invalid subject ${quoteSubject(subject)}: ${problem}`)
}

/** Throws `bad_subject` unless `pattern` is a valid subscription pattern. */
export function assertPattern(pattern: unknown, maxLength?: number): asserts pattern is string {
  const problem = subjectProblem(pattern, true, maxLength)
  if (problem !== null) throw new SubwireError('bad_subject', `invalid subscription subject ${quoteSubject(pattern)}: ${problem}`)
}

/** True when the pattern contains a `*` or `>` token. */
export function hasWildcard(pattern: string): boolean {
  const tokens = pattern.split('.')
  return tokens.includes('*') || tokens.includes('>')
}

/**
 * The reference matcher: does `pattern` match `subject`? The broker's subject index must agree with it on
 * every input (test/routing/subject-index.test.ts checks that); it is also handy in clients.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.')
  const s = subject.split('.')
  for (let i = 0; i < p.length; i++) {
    const token = p[i]
    if (token === '>') return s.length > i
    if (i >= s.length) return false
    if (token !== '*' && token !== s[i]) return false
  }
  return p.length === s.length
}
