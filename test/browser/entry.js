// The browser test page's script, bundled by esbuild for the browser (test/browser.test.ts).
//
// It imports the client by its package name, as an application would, so the bundle goes through package.json
// `exports` (condition `source`) and proves that `subwire/client` builds for a browser with no Node code in it.
//
// Plain JS on purpose: tsconfig.json has no `customConditions: ["source"]`, so `tsc -p .` resolves
// `subwire/client` to dist/client/index.d.ts, which exists only after `npm run build`. Everything with logic in
// it is in page.ts, which is type-checked.
import { connect } from 'subwire/client'
import { createPage } from './page.ts'

const broker = new URL(globalThis.location.href).searchParams.get('broker')
if (broker === null) throw new Error('[page] missing ?broker=ws://... in the page URL')
globalThis.subwirePage = createPage(connect, broker)
