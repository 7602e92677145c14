/**
 * vega and vega-lite are optional (peer dependencies, 23 MB): importing zcoll, or the bench and report
 * commands' modules, must not load them. A child process records every module it resolves through
 * a module.register resolve hook; the same child then loads the plotting packages as a control, so
 * the hook is shown to see vega when vega is loaded. (The message when vega is not installed is
 * checked on a real install without it: test/packaging/pack.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';

const here = dirname(fileURLToPath(import.meta.url));
const lib = join(here, '..', '..', 'lib');

const HOOKS = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(log, r.url + '\\n');
  return r;
}
`;

const MAIN = `
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
const [hooks, log, ...urls] = process.argv.slice(1);
register(hooks, { data: { log } });
for (const url of urls) await import(url);
const before = readFileSync(log, 'utf8').split('\\n').filter(Boolean);
const plot = await import(urls.find((u) => u.endsWith('/cli/plot.js')));
await plot.loadPlotting();
const after = readFileSync(log, 'utf8').split('\\n').filter(Boolean);
console.log(JSON.stringify({ before, after }));
`;

const isPlotting = (url: string) => /\/node_modules\/vega(-[a-z-]+)?\//.test(url);

t.test('importing zcoll, bench and report loads no vega module; loading the plot does', async (tt) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-graph-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const hooks = join(dir, 'hooks.mjs');
  const log = join(dir, 'resolved.log');
  writeFileSync(hooks, HOOKS);
  writeFileSync(log, '');
  const urls = ['index.js', 'cli/bench.js', 'cli/report.js', 'cli/plot.js'].map((f) => pathToFileURL(join(lib, f)).href);
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', MAIN, pathToFileURL(hooks).href, log, ...urls], { encoding: 'utf8', timeout: 60_000 });
  tt.equal(r.status, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { before: string[]; after: string[] };
  tt.ok(before.some((u) => u.endsWith('/lib/index.js')), 'the hook saw zcoll load');
  tt.ok(before.some((u) => u.includes('/node_modules/zeromq/')), 'and its dependencies');
  tt.same(before.filter(isPlotting), [], 'no vega module before a plot is asked for');
  const loaded = after.filter(isPlotting);
  tt.ok(loaded.some((u) => u.includes('/node_modules/vega/')) && loaded.some((u) => u.includes('/node_modules/vega-lite/')), 'the control: loadPlotting() does load vega and vega-lite, and the hook sees it');
});
