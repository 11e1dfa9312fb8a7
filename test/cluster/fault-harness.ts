/**
 * The fault tests' cluster: broker nodes as child processes (node-child.ts) joined on one real redis-server
 * (redis-server.ts), started and stopped by pid: `kill('SIGKILL')` is the crash, `stop()` the graceful exit.
 * Every wait is bounded; `close()` kills whatever is left.
 *
 * @example
 * const redis = await startRedis()
 * const nodes = await NodeSet.start(redis.url, 3)
 * try { ...connect(nodes.at(0).url)... } finally { await nodes.close(); await redis.close() }
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { within } from '../helpers.ts'
import type { NodeChildOptions, NodeChildReady } from './node-child.ts'

const CHILD = fileURLToPath(new URL('./node-child.ts', import.meta.url))
const START_MS = 20_000
const STOP_MS = 8000
const OUTPUT_TAIL = 8192

/** Options of every node of a set (each gets its own nodeId). */
export type NodeSetOptions = Omit<NodeChildOptions, 'redis' | 'name' | 'nodeId'>

/** One node: its addresses, its pid, and how to end it. */
export class NodeProcess {
  readonly nodeId: string
  readonly #child: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  #ready: NodeChildReady | null = null
  #output = ''

  private constructor(nodeId: string, child: ChildProcess) {
    this.nodeId = nodeId
    this.#child = child
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-OUTPUT_TAIL)
    }
    child.stderr?.on('data', keep)
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  }

  /** Starts a node and waits for its ready line. */
  static async start(options: NodeChildOptions, env: Readonly<Record<string, string>> = {}): Promise<NodeProcess> {
    const child = spawn(process.execPath, ['--conditions=source', '--import', import.meta.resolve('tsx'), CHILD, JSON.stringify(options)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    const node = new NodeProcess(options.nodeId, child)
    let out = ''
    try {
      node.#ready = await within(START_MS, new Promise<NodeChildReady>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          const line = out.split('\n').find((l) => l.startsWith('{'))
          if (line !== undefined && out.includes('\n')) resolve(JSON.parse(line) as NodeChildReady)
        })
        void node.exited.then(({ code, signal }) => reject(new Error(`node ${options.nodeId} exited at start (${code ?? signal}):\n${node.output}`)))
      }), `node ${options.nodeId} to listen`)
    } catch (err) {
      node.kill('SIGKILL')
      throw err
    }
    return node
  }

  get url(): string {
    return this.#ready?.url ?? ''
  }

  /** `http://127.0.0.1:<port>` (/readyz, /stats). */
  get http(): string {
    return this.#ready?.http ?? ''
  }

  get pid(): number {
    return this.#ready?.pid ?? this.#child.pid ?? -1
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null
  }

  /** The tail of the node's log (stderr), for failure messages. */
  get output(): string {
    return this.#output
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.#child.kill(signal)
  }

  /** SIGTERM, then SIGKILL past a deadline. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.kill('SIGTERM')
    try {
      await within(STOP_MS, this.exited, `node ${this.nodeId} to stop`)
    } catch {
      this.kill('SIGKILL')
      await within(STOP_MS, this.exited, `node ${this.nodeId} to die`)
    }
  }

  /** GET a monitoring path of this node: its status and body. */
  async get(path: string): Promise<{ status: number; body: string }> {
    const res = await within(3000, fetch(`${this.http}${path}`), `GET ${path} on ${this.nodeId}`)
    return { status: res.status, body: await within(3000, res.text(), `the body of ${path}`) }
  }
}

/** The nodes of one cluster on one Redis. */
export class NodeSet {
  readonly redis: string
  readonly name: string
  readonly #options: NodeSetOptions
  readonly nodes: NodeProcess[] = []

  private constructor(redis: string, options: NodeSetOptions) {
    this.redis = redis
    // A fresh cluster name per set: sets sharing a redis-server never see each other's nodes.
    this.name = `t${randomBytes(4).toString('hex')}`
    this.#options = options
  }

  /** Starts `count` nodes (n1, n2, …) one after the other. */
  static async start(redis: string, count: number, options: NodeSetOptions = {}): Promise<NodeSet> {
    const set = new NodeSet(redis, options)
    try {
      for (let i = 0; i < count; i++) await set.add()
    } catch (err) {
      await set.close()
      throw err
    }
    return set
  }

  /** Starts one more node (a restarted one is a new node with a new id). */
  async add(options: NodeSetOptions = {}): Promise<NodeProcess> {
    const node = await NodeProcess.start({ ...this.#options, ...options, redis: this.redis, name: this.name, nodeId: `n${this.nodes.length + 1}` })
    this.nodes.push(node)
    return node
  }

  at(i: number): NodeProcess {
    const node = this.nodes[i]
    if (node === undefined) throw new Error(`no node ${i}`)
    return node
  }

  /** Every node's URL, for a client that may fail over between them. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url)
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()))
  }
}
