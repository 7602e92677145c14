// The import graph of lib/ has no cycle: every relative import of every lib/**/*.ts file, type-only
// and dynamic ones included, read from the source text. A type-only circle costs nothing at run
// time, but it leaves a reader unable to tell which file is the contract; a runtime circle makes
// module evaluation order matter. Also: the transport reads no cluster config (it takes plain keys).
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LIB = join(ROOT, 'lib');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(path);
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

// `import ... from '…'`, `import type ... from '…'`, `export ... from '…'` (over several lines),
// `import '…'` and `import('…')`. Specifiers only: a comment quoting one would count too, which errs
// on the side of reporting.
const FROM = /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm;
const BARE = /^\s*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The relative specifiers `source` imports. */
function importSpecifiers(source: string): string[] {
  const found: string[] = [];
  for (const re of [FROM, BARE, DYNAMIC]) {
    for (const m of source.matchAll(re)) found.push(m[1]);
  }
  return found.filter((s) => s.startsWith('.'));
}

/** The file a relative specifier of `from` names: './x.js' -> x.ts, './dir' -> dir/index.ts. */
function resolveImport(from: string, specifier: string): string {
  const target = resolve(dirname(from), specifier);
  if (target.endsWith('.js')) return `${target.slice(0, -3)}.ts`;
  if (target.endsWith('.ts')) return target;
  try {
    if (statSync(target).isDirectory()) return join(target, 'index.ts');
  } catch {
    // not a directory: fall through
  }
  return `${target}.ts`;
}

type Graph = ReadonlyMap<string, readonly string[]>;

/** One cycle as a list of nodes (the first repeated at the end), or undefined when the graph has none. */
function findCycle(graph: Graph): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === 'open') return [...path.slice(path.indexOf(next)), next];
      if (s === undefined) {
        const cycle = visit(next);
        if (cycle !== undefined) return cycle;
      }
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    if (state.get(node) === undefined) {
      const cycle = visit(node);
      if (cycle !== undefined) return cycle;
    }
  }
  return undefined;
}

function libGraph(): { graph: Map<string, string[]>; unresolved: string[] } {
  const files = tsFiles(LIB);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of files) {
    const targets: string[] = [];
    for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
      const target = resolveImport(file, spec);
      if (known.has(target)) targets.push(relative(ROOT, target));
      else if (target.startsWith(LIB)) unresolved.push(`${relative(ROOT, file)}: '${spec}'`);
    }
    graph.set(relative(ROOT, file), [...new Set(targets)].sort());
  }
  return { graph, unresolved };
}

t.test('the parser reads every form of relative import', async (t) => {
  const source = [
    "import { a } from './a.js';",
    "import type { B } from '../b.js';",
    'import {',
    '  c,',
    "  type D } from './c.js';",
    "export { e } from './e.js';",
    "export type * from './f.js';",
    "import './side-effect.js';",
    "const g = await import('./g.js');",
    "import { zmq } from 'zeromq';",
    "const url = 'tcp://127.0.0.1:1'; // from './not-an-import.js' is no import",
  ].join('\n');
  t.same(importSpecifiers(source).sort(), ['../b.js', './a.js', './c.js', './e.js', './f.js', './g.js', './side-effect.js']);
});

t.test('the cycle finder names the files of a cycle', async (t) => {
  t.same(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), ['a', 'b', 'c', 'a']);
  t.same(findCycle(new Map([['a', ['a']]])), ['a', 'a'], 'a file importing itself');
  t.equal(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), undefined, 'a diamond is no cycle');
});

t.test('lib/ has no import cycle, type-only imports included', async (t) => {
  const { graph, unresolved } = libGraph();
  t.ok(graph.size > 50, `read ${graph.size} files of lib/`);
  t.same(unresolved, [], 'every relative import names a file of lib/');
  // The graph is the one the review's circles lived in: these arrows exist, so the parse is live.
  t.ok(graph.get('lib/comm/shrink.ts')?.includes('lib/comm/origin.ts'), 'shrink.ts -> origin.ts');
  t.ok(graph.get('lib/robust/mean.ts')?.includes('lib/robust/aggregation.ts'), 'robust/mean.ts -> aggregation.ts');
  const cycle = findCycle(graph);
  t.equal(cycle, undefined, cycle === undefined ? 'no cycle' : `import cycle: ${cycle.join(' -> ')}`);
});

t.test('the transport reads no cluster config', async (t) => {
  const { graph } = libGraph();
  const upward = [...graph].flatMap(([file, targets]) => (file.startsWith('lib/transport/') ? targets.filter((x) => x.startsWith('lib/cluster/')).map((x) => `${file} -> ${x}`) : []));
  t.same(upward, [], 'no lib/transport file imports lib/cluster');
});
