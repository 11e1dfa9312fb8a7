// Encodes four typical payloads 300,000 times with subwire's encoder and with msgpackr's (same options), three rounds each:
// `node --conditions=source --import tsx scripts/encode-bench.ts` (README "Why each runtime dependency").
import { encodePayload } from '../shared/payload-codec.ts'
import { Packr } from 'msgpackr'
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, bundleStrings: false })
const values = [{ value: 21.5, sensor: 'paris', ok: true, tags: ['a', 'b'] }, 'hello world', 12345, { order: { id: 'o-123', items: [{ sku: 'x', qty: 2 }, { sku: 'y', qty: 1 }], total: 99.5 } }]
for (const [name, fn] of [['new', (v: unknown) => encodePayload(v).bytes], ['msgpackr', (v: unknown) => packr.pack(v)]] as const) {
  for (let r = 0; r < 3; r++) {
    const t = performance.now(); let n = 0
    for (let i = 0; i < 300000; i++) n += fn(values[i & 3]).length
    console.log(name, ((performance.now() - t) * 1e6 / 300000).toFixed(0), 'ns/op', n)
  }
}
