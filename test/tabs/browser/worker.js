// The SharedWorker bundle of test/tabs/tabs.browser.test.ts, built as an application using esbuild would build
// it: from the package's `subwire/client/shared-worker` export, served at a URL given as `shared.workerUrl`.
import 'subwire/client/shared-worker'
