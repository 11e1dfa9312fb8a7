/**
 * The web monitor's credential, when the broker that served the page requires one (its
 * `<meta name="subwire-auth" content="required">`): asked for in the page's sign-in form, kept in
 * sessionStorage (gone with the tab, never in a URL), sent as `Authorization` on the page's HTTP fetches and in
 * CONNECT for its own client. The broker grants what the credential's `monitor` permission says.
 *
 * Browser only.
 */

/** A token (configured or a JWT), or a user and password. */
export interface Credential {
  token?: string
  user?: string
  password?: string
}

const STORAGE_KEY = 'subwire-monitor-credential'

const byId = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`[monitor] missing #${id}`)
  return el as T
}

/** True when the broker asks for a credential on its monitoring endpoints. */
export function authRequired(): boolean {
  return document.querySelector('meta[name="subwire-auth"]')?.getAttribute('content') === 'required'
}

/** The credential of this tab's earlier sign-in, if any. */
export function storedCredential(): Credential | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY)
    if (raw === null) return null
    const v = JSON.parse(raw) as Record<string, unknown>
    const c: Credential = {}
    if (typeof v.token === 'string' && v.token !== '') c.token = v.token
    if (typeof v.user === 'string' && v.user !== '' && typeof v.password === 'string') { c.user = v.user; c.password = v.password }
    return c.token !== undefined || c.user !== undefined ? c : null
  } catch {
    return null // storage off (privacy mode) or a value from elsewhere: ask again
  }
}

/** Drops the stored credential (sign out, or the broker refused it). */
export function forgetCredential(): void {
  try { sessionStorage.removeItem(STORAGE_KEY) } catch { /* storage off: nothing kept */ }
}

/** Base64 of UTF-8 text (`btoa` alone takes Latin-1 only). */
function base64(text: string): string {
  let binary = ''
  for (const b of new TextEncoder().encode(text)) binary += String.fromCharCode(b)
  return btoa(binary)
}

/** The request headers carrying a credential: Bearer for a token, Basic for a user. None without one. */
export function authHeaders(c: Credential | null): Record<string, string> {
  if (c === null) return {}
  if (c.token !== undefined) return { Authorization: `Bearer ${c.token}` }
  if (c.user !== undefined) return { Authorization: `Basic ${base64(`${c.user}:${c.password ?? ''}`)}` }
  return {}
}

/** What the page's own client sends in CONNECT. */
export function connectCredentials(c: Credential | null): Credential {
  if (c === null) return {}
  return c.token !== undefined ? { token: c.token } : { user: c.user ?? '', password: c.password ?? '' }
}

/**
 * Shows the sign-in form (with `message`, e.g. why the last credential was refused) and resolves with what is
 * entered, stored for this tab.
 */
export function askForCredential(message: string): Promise<Credential> {
  const form = byId<HTMLFormElement>('sign-in')
  const error = byId('sign-in-error')
  error.textContent = message
  form.hidden = false
  byId<HTMLInputElement>('sign-in-token').focus()
  return new Promise((resolve) => {
    const submit = (event: SubmitEvent): void => {
      event.preventDefault()
      const token = byId<HTMLInputElement>('sign-in-token').value.trim()
      const user = byId<HTMLInputElement>('sign-in-user').value.trim()
      const password = byId<HTMLInputElement>('sign-in-password').value
      if (token === '' && user === '') { error.textContent = 'enter a token, or a user and password'; return }
      const c: Credential = token !== '' ? { token } : { user, password }
      try { sessionStorage.setItem(STORAGE_KEY, JSON.stringify(c)) } catch { /* storage off: kept in memory only */ }
      form.removeEventListener('submit', submit)
      form.hidden = true
      resolve(c)
    }
    form.addEventListener('submit', submit)
  })
}

/** Shows the sign-out button, which forgets the credential and asks again. */
export function offerSignOut(): void {
  const button = byId<HTMLButtonElement>('sign-out')
  button.hidden = false
  button.onclick = () => { forgetCredential(); location.reload() }
}
