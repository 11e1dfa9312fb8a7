/**
 * The demo's web server: serves the realtime dashboard page and its script (bundled by esbuild at start, from
 * the TypeScript sources) on its own port, as an application would serve its pages next to a broker.
 */
import { createServer, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const HERE = fileURLToPath(new URL('.', import.meta.url))

/** A running demo web server. */
export interface WebServer {
  url: string
  close(): Promise<void>
}

/** Bundles a script for the browser: the dashboard page, or the SharedWorker its tabs share one connection through. */
async function bundle(entry: string): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    logLevel: 'silent',
  })
  const out = result.outputFiles[0]
  if (out === undefined) throw new Error('esbuild produced no dashboard bundle')
  return out.contents
}

/** Starts the web server on `host:port`; the page connects to `brokerUrl`. */
export async function startWebServer(brokerUrl: string, port: number, host = '127.0.0.1'): Promise<WebServer> {
  const [script, worker, template] = await Promise.all([
    bundle(`${HERE}dashboard/app.ts`), bundle(`${HERE}../client/shared/shared-worker.ts`), readFile(`${HERE}dashboard/index.html`, 'utf8'),
  ])
  const html = template.replace('{{BROKER_URL}}', brokerUrl.replace(/"/g, '&quot;'))
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html)
    else if (path === '/dashboard.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script)
    else if (path === '/subwire-worker.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(worker)
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const { port: actual } = server.address() as AddressInfo
  return {
    url: `http://${host}:${actual}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
