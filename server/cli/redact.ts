/**
 * Credentials never leave `subwire serve` in its output: a Redis URL (`rediss://user:pass@host`) is shown as
 * `rediss://user:***@host` in the banner, `--print-config`, errors and every log line, whichever part of the
 * broker (or ioredis, in an error it logs) wrote it.
 */

/** `scheme://user:pass@` (the user may be empty): the password is whatever lies between the `:` and the `@`. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/"'?#]*:)[^\s@"']*@/gi

/**
 * `text` with the password of every URL in it replaced by `***`.
 * @example maskUrls('redis://app:s3cret@redis:6379/0') // 'redis://app:***@redis:6379/0'
 */
export function maskUrls(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1***@')
}

/** `user:pass@`, with or without a scheme before it (what an operator meant as a URL and mistyped). */
const ANY_CREDENTIALS = /([^\s:@/"']*:)[^\s@"']*@/g

/**
 * A value the operator gave as a Redis URL, for an error message: any `user:pass@` in it is masked, even in a
 * string that is not a URL (`redis//app:secret@host`).
 * @example maskValue('redis//app:s3cret@h') // 'redis//app:***@h'
 */
export function maskValue(text: string): string {
  return maskUrls(text).replace(ANY_CREDENTIALS, (m, user: string) => (m.endsWith(':***@') ? m : `${user}***@`))
}

/** Every password in `urls`, as written and decoded (an error may quote either). */
export function passwordsOf(urls: readonly string[]): string[] {
  const out = new Set<string>()
  for (const url of urls) {
    let password: string
    try {
      password = new URL(url).password
    } catch {
      continue
    }
    if (password === '') continue
    out.add(password)
    try {
      out.add(decodeURIComponent(password))
    } catch {
      // A malformed escape: the written form is already in the set.
    }
  }
  return [...out]
}

/**
 * A function that masks URLs and the given secrets in a line of text (log lines: ioredis may quote its
 * options, password included, in an error).
 */
export function masker(secrets: readonly string[]): (text: string) => string {
  // A one-letter password would mask every such letter of every line; it is still masked inside URLs.
  const words = secrets.filter((s) => s.length >= 3)
  return (text) => {
    let out = maskUrls(text)
    for (const word of words) if (out.includes(word)) out = out.split(word).join('***')
    return out
  }
}
