// Architecture rules for subwire, checked by dependency-cruiser (`npm run check:architecture`) and by
// test/architecture.test.ts, which also caps file length (420 lines; not a dependency-cruiser concern).
// CommonJS, hence .cjs: the package itself is ESM ("type": "module").

/**
 * The server's layers, bottom to top. A module may import from its own layer or a lower one, never a higher one.
 * `shared/` is the bottom layer; `client/` stands beside the server (its rules follow the layer rules below).
 */
const layers = [
  ['shared', '^shared/'],
  ['store', '^server/store/'],
  ['security', '^server/security/'],
  ['cluster', '^server/cluster/'],
  ['outbound', '^server/outbound/'],
  ['routing', '^server/routing/'],
  ['topics', '^server/topics/'],
  ['configuration', '^server/(options|version)[.]ts$'],
  ['edge', '^server/edge/'],
  ['broker', '^server/broker[.]ts$'],
  ['monitoring', '^server/monitoring/'],
  ['package-surface', '^server/index[.]ts$'],
  ['cli', '^server/cli/'],
]

const layerRules = layers.slice(0, -1).map(([name, path], i) => ({
  name: `layer-${i}-${name}`,
  severity: 'error',
  comment: `${name} (layer ${i}) imports only from its own layer or lower: not from ${layers
    .slice(i + 1)
    .map(([above]) => above)
    .join(', ')}`,
  from: { path },
  to: { path: layers.slice(i + 1).map(([, above]) => above) },
}))

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycle, type-only imports included: a cycle makes two modules one, in two files.',
      from: { path: '^(server|client|shared)/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'server-module-outside-layers',
      severity: 'error',
      comment: 'Every server module belongs to a layer: add a new folder to the layer list in .dependency-cruiser.cjs.',
      from: { path: '^server/', pathNot: layers.map(([, path]) => path) },
      to: {},
    },
    {
      name: 'import-of-server-module-outside-layers',
      severity: 'error',
      comment: 'Every server module belongs to a layer: add a new folder to the layer list in .dependency-cruiser.cjs.',
      from: {},
      to: { path: '^server/', pathNot: layers.map(([, path]) => path) },
    },
    {
      name: 'store-implementation-imports-another',
      severity: 'error',
      comment: 'A store implementation (server/store/<impl>/) imports server/store/*.ts and the engine (server/store/engine/, the in-memory index every local store shares), never another implementation; the engine imports no implementation.',
      from: { path: '^server/store/([^/]+)/' },
      to: { path: '^server/store/[^/]+/', pathNot: ['^server/store/$1/', '^server/store/engine/'] },
    },
    {
      name: 'shared-imports-client-or-server',
      severity: 'error',
      comment: 'shared/ is the bottom of both sides: it imports nothing from client/ or server/.',
      from: { path: '^shared/' },
      to: { path: '^(client|server)/' },
    },
    {
      name: 'client-imports-outside-client-and-shared',
      severity: 'error',
      comment: 'client/ imports only client/ and shared/ (and packages): it runs in browsers, apart from the server.',
      from: { path: '^client/' },
      to: { pathNot: '^(client|shared|node_modules)/', dependencyTypesNot: ['core'], couldNotResolve: false },
    },
    {
      name: 'server-imports-client',
      severity: 'error',
      comment: 'Only the CLI (server/cli/) and the monitor page (server/monitoring/web/app/) use the client SDK.',
      from: { path: '^server/', pathNot: '^server/(cli|monitoring/web/app)/' },
      to: { path: '^client/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'Every import resolves; an unresolved one would also hide its edge from every rule above.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|test)/' },
    // Type-only imports are edges too (rule no-circular counts them).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      // The package's own `source` condition (tsconfig customConditions), should a module import 'subwire/…'.
      conditionNames: ['source', 'import', 'node', 'default'],
      exportsFields: ['exports'],
      mainFields: ['module', 'main', 'types'],
      extensions: ['.ts', '.js', '.d.ts'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
}
