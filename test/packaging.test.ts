import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { VERSION } from '../server/version.ts'

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  version: string
  type: string
  exports: Record<string, { types?: string; source?: string; default?: string }>
  dependencies: Record<string, string>
}

test('announces the version package.json declares', () => {
  assert.is(VERSION, pkg.version)
})

test('exports server, client and shared, each with types, sources and a dist entry', () => {
  assert.is(pkg.type, 'module')
  for (const sub of ['./server', './client', './shared']) {
    const entry = pkg.exports[sub]
    assert.ok(entry !== undefined, sub)
    assert.match(entry.types ?? '', /^\.\/dist\/.*\.d\.ts$/)
    assert.match(entry.default ?? '', /^\.\/dist\/.*\.js$/)
    assert.ok(existsSync(entry.source ?? ''), `${sub} source ${entry.source}`)
  }
})

test('justifies every runtime dependency in the README, with ws at 8.21 or later', () => {
  assert.ok(['msgpackr', 'nanoid', 'pino', 'ws'].every((d) => d in pkg.dependencies), 'the core four are dependencies')
  const [major, minor] = pkg.dependencies.ws.replace(/^[^\d]*/, '').split('.').map(Number)
  assert.ok(major > 8 || (major === 8 && minor >= 21), `ws ${pkg.dependencies.ws}`)
  const readme = readFileSync('README.md', 'utf8')
  for (const dep of Object.keys(pkg.dependencies)) assert.match(readme, new RegExp(`\\*\\*\`${dep}\`\\*\\*`), `README justifies ${dep}`)
})

test('keeps client and shared free of Node built-ins, so they run unchanged in a browser', () => {
  for (const dir of ['client', 'shared']) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(`${dir}/${file}`, 'utf8')
      const imports = [...text.matchAll(/(?:from|import\()\s*'([^']+)'/g)].map((m) => m[1])
      for (const spec of imports) {
        assert.ok(!spec.startsWith('node:') && !['fs', 'net', 'http', 'crypto', 'stream', 'buffer', 'events', 'os', 'path'].includes(spec), `${dir}/${file} imports ${spec}`)
      }
    }
  }
})

test.run()
