/**
 * Specification of the subject grammar and the reference matcher (shared/subject.ts, PROTOCOL §3).
 * Rules are tables of rows; each row is one behaviour.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { codeOf } from '../helpers.ts'
import fc from 'fast-check'
import {
  assertPattern, assertSubject, hasWildcard, isValidPattern, isValidSubject, subjectMatches, subjectProblem, utf8Length,
} from '../../shared/subject.ts'
import { SubwireError } from '../../shared/errors.ts'
import { DEFAULT_LIMITS } from '../../shared/protocol.ts'


/** Shows control and white-space characters in test names. */
function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : String(v)
}

// ---------------------------------------------------------------------------------------------------------
// Grammar: which strings are publishable subjects and which are subscription patterns.

interface GrammarRow {
  input: unknown
  /** Valid as a published subject (no wildcards). */
  subject: boolean
  /** Valid as a subscription pattern. */
  pattern: boolean
  rule: string
}

const GRAMMAR: GrammarRow[] = [
  { input: 'a', subject: true, pattern: true, rule: 'a single token is a subject' },
  { input: 'a.b.c', subject: true, pattern: true, rule: 'dot-separated tokens form a subject' },
  { input: 'orders.eu-west_1.$SYS.42', subject: true, pattern: true, rule: 'punctuation other than . * > is literal' },
  { input: 'ñ.日本', subject: true, pattern: true, rule: 'unicode tokens are valid' },
  { input: 'emoji.😀', subject: true, pattern: true, rule: 'astral-plane characters are valid' },
  { input: '', subject: false, pattern: false, rule: 'the empty string is refused' },
  { input: 'a..b', subject: false, pattern: false, rule: 'an empty token in the middle is refused' },
  { input: '.a', subject: false, pattern: false, rule: 'a leading dot is an empty token' },
  { input: 'a.', subject: false, pattern: false, rule: 'a trailing dot is an empty token' },
  { input: '.', subject: false, pattern: false, rule: 'a lone dot is two empty tokens' },
  { input: 'a.*.>.', subject: false, pattern: false, rule: 'a trailing dot after a wildcard is an empty token' },
  { input: 'a b', subject: false, pattern: false, rule: 'a space is refused' },
  { input: 'a\tb', subject: false, pattern: false, rule: 'a tab is refused' },
  { input: 'a\nb', subject: false, pattern: false, rule: 'a newline is refused' },
  { input: 'a\rb', subject: false, pattern: false, rule: 'a carriage return is refused' },
  { input: 'a\u0000b', subject: false, pattern: false, rule: 'NUL is refused' },
  { input: 'a\u001bb', subject: false, pattern: false, rule: 'ESC is refused' },
  { input: 'a\u007fb', subject: false, pattern: false, rule: 'DEL is refused' },
  { input: 'a\u0085b', subject: false, pattern: false, rule: 'a C1 control (NEL) is refused' },
  { input: 'a\u00a0b', subject: false, pattern: false, rule: 'a no-break space is refused' },
  { input: 'a\u1680b', subject: false, pattern: false, rule: 'the ogham space mark is refused' },
  { input: 'a\u2003b', subject: false, pattern: false, rule: 'an em space is refused' },
  { input: 'a\u2028b', subject: false, pattern: false, rule: 'the line separator is refused' },
  { input: 'a\u2029b', subject: false, pattern: false, rule: 'the paragraph separator is refused' },
  { input: 'a\u202fb', subject: false, pattern: false, rule: 'a narrow no-break space is refused' },
  { input: 'a\u3000b', subject: false, pattern: false, rule: 'an ideographic space is refused' },
  { input: 'a\ufeffb', subject: false, pattern: false, rule: 'a byte-order mark is refused' },
  { input: ' a', subject: false, pattern: false, rule: 'leading white space is refused' },
  { input: 'a ', subject: false, pattern: false, rule: 'trailing white space is refused' },
  { input: '*', subject: false, pattern: true, rule: 'a lone * is a pattern, not a subject' },
  { input: '>', subject: false, pattern: true, rule: 'a lone > is a pattern, not a subject' },
  { input: 'a.*', subject: false, pattern: true, rule: 'a trailing * token is a pattern' },
  { input: '*.b', subject: false, pattern: true, rule: 'a leading * token is a pattern' },
  { input: 'a.*.c', subject: false, pattern: true, rule: 'a middle * token is a pattern' },
  { input: '*.*', subject: false, pattern: true, rule: 'several * tokens are a pattern' },
  { input: 'a.>', subject: false, pattern: true, rule: 'a trailing > token is a pattern' },
  { input: 'a.*.>', subject: false, pattern: true, rule: '* then > is a pattern' },
  { input: '*.>', subject: false, pattern: true, rule: '*.> is a pattern' },
  { input: '>.a', subject: false, pattern: false, rule: '> is only allowed as the last token' },
  { input: 'a.>.b', subject: false, pattern: false, rule: '> in the middle is refused' },
  { input: '>.>', subject: false, pattern: false, rule: 'two > tokens are refused' },
  { input: 'a*', subject: false, pattern: false, rule: 'a * glued to a literal is refused' },
  { input: '*a', subject: false, pattern: false, rule: 'a * before a literal is refused' },
  { input: '>b', subject: false, pattern: false, rule: 'a > glued to a literal is refused' },
  { input: 'a>', subject: false, pattern: false, rule: 'a > after a literal is refused' },
  { input: 'a.b*', subject: false, pattern: false, rule: 'a partial-token * in the last token is refused' },
  { input: 'a.**', subject: false, pattern: false, rule: 'a double ** token is refused' },
  { input: 'a.>>', subject: false, pattern: false, rule: 'a double >> token is refused' },
  { input: 'a.*>', subject: false, pattern: false, rule: 'a *> token is refused' },
  { input: 42, subject: false, pattern: false, rule: 'a number is refused' },
  { input: null, subject: false, pattern: false, rule: 'null is refused' },
  { input: undefined, subject: false, pattern: false, rule: 'undefined is refused' },
  { input: ['a'], subject: false, pattern: false, rule: 'an array is refused' },
]

for (const row of GRAMMAR) {
  test(`${row.rule}: ${show(row.input)} is ${row.subject ? 'a valid' : 'not a'} subject and ${row.pattern ? 'a valid' : 'not a'} pattern`, () => {
    assert.is(isValidSubject(row.input), row.subject, 'isValidSubject')
    assert.is(isValidPattern(row.input), row.pattern, 'isValidPattern')
    assert.is(subjectProblem(row.input, false) === null, row.subject, 'subjectProblem(wildcards=false)')
    assert.is(subjectProblem(row.input, true) === null, row.pattern, 'subjectProblem(wildcards=true)')
    assert.is(codeOf(() => assertSubject(row.input)), row.subject ? 'no error' : 'bad_subject', 'assertSubject')
    assert.is(codeOf(() => assertPattern(row.input)), row.pattern ? 'no error' : 'bad_subject', 'assertPattern')
    if (!row.subject) assert.type(subjectProblem(row.input, false), 'string', 'a refusal says why')
  })
}

test('rejects a published subject with a wildcard as bad_subject', () => {
  for (const subject of ['*', '>', 'a.*', 'a.>', '*.b.c']) {
    assert.is(codeOf(() => assertSubject(subject)), 'bad_subject', subject)
  }
})

test('refuses exactly the white space, control characters, * and > of the whole BMP inside a token', () => {
  const isSpace = /^\s$/
  const isControl = /^\p{Cc}$/u
  const mismatches: string[] = []
  for (let c = 0; c <= 0xffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue // lone surrogates are not characters
    if (c === 0x2e) continue // '.' separates tokens (the empty-token rows cover it)
    const ch = String.fromCharCode(c)
    const forbidden = isSpace.test(ch) || isControl.test(ch) || ch === '*' || ch === '>'
    const subject = `a${ch}b`
    if (isValidPattern(subject) === forbidden) mismatches.push(c.toString(16))
    if (isValidSubject(subject) === forbidden) mismatches.push(c.toString(16))
  }
  assert.equal(mismatches, [])
})

// ---------------------------------------------------------------------------------------------------------
// Length: counted in UTF-8 bytes, default 256.

const MAX = DEFAULT_LIMITS.maxSubjectLength

interface LengthRow {
  subject: string
  maxLength?: number
  valid: boolean
  rule: string
}

const LENGTH: LengthRow[] = [
  { subject: 'a'.repeat(MAX), valid: true, rule: 'a subject exactly at the default maximum is valid' },
  { subject: 'a'.repeat(MAX + 1), valid: false, rule: 'a subject one byte past the default maximum is refused' },
  { subject: `${'a.'.repeat(MAX / 2 - 1)}ab`, valid: true, rule: 'many tokens exactly at the maximum are valid' },
  { subject: `${'a'.repeat(MAX - 2)}ñ`, valid: true, rule: 'a two-byte character ending exactly at the maximum is valid' },
  { subject: `${'a'.repeat(MAX - 1)}ñ`, valid: false, rule: 'a two-byte character pushing the bytes one past the maximum is refused' },
  { subject: '日'.repeat(85), valid: true, rule: '85 three-byte characters (255 bytes) are valid' },
  { subject: `${'日'.repeat(85)}a`, valid: true, rule: '85 three-byte characters and one ASCII byte (256 bytes) are valid' },
  { subject: '日'.repeat(86), valid: false, rule: '86 three-byte characters (258 bytes, 86 UTF-16 units) are refused' },
  { subject: '😀'.repeat(64), valid: true, rule: '64 four-byte characters (256 bytes) are valid' },
  { subject: '😀'.repeat(65), valid: false, rule: '65 four-byte characters (260 bytes, 130 UTF-16 units) are refused' },
  { subject: 'abc', maxLength: 3, valid: true, rule: 'a custom maximum is inclusive' },
  { subject: 'abcd', maxLength: 3, valid: false, rule: 'a custom maximum refuses one byte more' },
  { subject: 'ñ', maxLength: 1, valid: false, rule: 'one two-byte character is over a one-byte maximum' },
  { subject: 'ñ', maxLength: 2, valid: true, rule: 'one two-byte character fits a two-byte maximum' },
]

for (const row of LENGTH) {
  test(`${row.rule} (${utf8Length(row.subject)} bytes, max ${row.maxLength ?? MAX})`, () => {
    assert.is(isValidSubject(row.subject, row.maxLength), row.valid, 'isValidSubject')
    assert.is(isValidPattern(row.subject, row.maxLength), row.valid, 'isValidPattern')
    assert.is(codeOf(() => assertSubject(row.subject, row.maxLength)), row.valid ? 'no error' : 'bad_subject', 'assertSubject')
    assert.is(codeOf(() => assertPattern(row.subject, row.maxLength)), row.valid ? 'no error' : 'bad_subject', 'assertPattern')
  })
}

test('a wildcard pattern at the maximum length is valid and one byte more is refused', () => {
  const atMax = `${'a'.repeat(MAX - 2)}.>`
  assert.is(utf8Length(atMax), MAX)
  assert.ok(isValidPattern(atMax))
  assert.not.ok(isValidPattern(`a${atMax}`))
})

test('utf8Length agrees with TextEncoder on every well-formed string', () => {
  const encoder = new TextEncoder()
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => utf8Length(s) === encoder.encode(s).length),
    { numRuns: 2000 })
  for (const s of ['', 'a', 'ñ', '日', '😀', 'a😀ñ日']) assert.is(utf8Length(s), encoder.encode(s).length, s)
})

// ---------------------------------------------------------------------------------------------------------
// The reference matcher.

interface MatchRow {
  pattern: string
  subject: string
  matches: boolean
}

const MATCHING: MatchRow[] = [
  { pattern: 'a', subject: 'a', matches: true },
  { pattern: 'a.b.c', subject: 'a.b.c', matches: true },
  { pattern: 'a.b.c', subject: 'a.b', matches: false },
  { pattern: 'a.b', subject: 'a.b.c', matches: false },
  { pattern: 'a.b', subject: 'a.c', matches: false },
  { pattern: 'ñ.日本', subject: 'ñ.日本', matches: true },
  { pattern: 'a.>', subject: 'a', matches: false },
  { pattern: 'a.>', subject: 'a.b', matches: true },
  { pattern: 'a.>', subject: 'a.b.c', matches: true },
  { pattern: 'a.>', subject: 'b.c', matches: false },
  { pattern: '>', subject: 'a', matches: true },
  { pattern: '>', subject: 'a.b.c', matches: true },
  { pattern: '*', subject: 'a', matches: true },
  { pattern: '*', subject: 'a.b', matches: false },
  { pattern: '*.*', subject: 'a.b', matches: true },
  { pattern: '*.*', subject: 'a.b.c', matches: false },
  { pattern: '*.*', subject: 'a', matches: false },
  { pattern: 'a.*.c', subject: 'a.b.c', matches: true },
  { pattern: 'a.*.c', subject: 'a.b.b.c', matches: false },
  { pattern: 'a.*.c', subject: 'a.c', matches: false },
  { pattern: 'a.*.>', subject: 'a.b', matches: false },
  { pattern: 'a.*.>', subject: 'a.b.c', matches: true },
  { pattern: 'a.*.>', subject: 'a.b.c.d', matches: true },
  { pattern: '*.>', subject: 'a', matches: false },
  { pattern: '*.>', subject: 'a.b', matches: true },
  { pattern: '*.b', subject: 'a.b', matches: true },
  { pattern: '*.b', subject: 'a.c', matches: false },
]

for (const row of MATCHING) {
  test(`pattern ${row.pattern} ${row.matches ? 'matches' : 'does not match'} subject ${row.subject}`, () => {
    assert.ok(isValidPattern(row.pattern), 'the pattern is valid')
    assert.ok(isValidSubject(row.subject), 'the subject is valid')
    assert.is(subjectMatches(row.pattern, row.subject), row.matches)
  })
}

/** An independent oracle: the pattern as an anchored regular expression. */
function patternRegExp(pattern: string): RegExp {
  const parts = pattern.split('.').map((t) => {
    if (t === '*') return '[^.]+'
    if (t === '>') return '[^.]+(?:\\.[^.]+)*'
    return t.replace(/[$()*+.?[\\\]^{|}]/g, '\\$&')
  })
  return new RegExp(`^${parts.join('\\.')}$`, 'u')
}

const TOKEN = fc.constantFrom('a', 'b', 'c')
const SUBJECT = fc.array(TOKEN, { minLength: 1, maxLength: 5 }).map((t) => t.join('.'))
const PATTERN = fc.tuple(fc.array(fc.constantFrom('a', 'b', 'c', '*'), { maxLength: 4 }), fc.constantFrom('a', 'b', 'c', '*', '>'))
  .map(([head, last]) => [...head, last].join('.'))

test('the reference matcher agrees with a regular-expression reading of the grammar', () => {
  fc.assert(fc.property(PATTERN, SUBJECT, (pattern, subject) => {
    return isValidPattern(pattern) && subjectMatches(pattern, subject) === patternRegExp(pattern).test(subject)
  }), { numRuns: 3000 })
})

test('every valid subject matches itself as a literal pattern', () => {
  fc.assert(fc.property(SUBJECT, (subject) => subjectMatches(subject, subject)), { numRuns: 500 })
})

interface WildcardRow {
  pattern: string
  wildcard: boolean
}

const WILDCARDS: WildcardRow[] = [
  { pattern: 'a.b', wildcard: false },
  { pattern: '*', wildcard: true },
  { pattern: 'a.>', wildcard: true },
  { pattern: 'a.*.c', wildcard: true },
  { pattern: 'ñ.日本', wildcard: false },
]

test('hasWildcard tells patterns with a * or > token from literal subjects', () => {
  for (const row of WILDCARDS) assert.is(hasWildcard(row.pattern), row.wildcard, row.pattern)
})

test.run()
