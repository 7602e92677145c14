// README's TypeScript snippets (```ts blocks) compile against the package's own types: each is
// written beside the package (so `import ... from 'zcoll'` resolves through package.json's exports to
// dist/lib/index.d.ts, and tfjs from node_modules) and type-checked by tsc, strict. The names a
// snippet leaves to the reader (makeModel, myShard, loss) are declared below, nothing else. The
// README once showed `model.trainableWeights.map((w) => w.val)`, which does not compile (`val` is
// protected); this test is what catches that.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

const READER_NAMES = `
declare function makeModel(): import('@tensorflow/tfjs').LayersModel;
declare const myShard: Array<{ xs: import('@tensorflow/tfjs').Tensor; ys: import('@tensorflow/tfjs').Tensor }>;
declare function loss(model: import('@tensorflow/tfjs').LayersModel, batch: { xs: import('@tensorflow/tfjs').Tensor; ys: import('@tensorflow/tfjs').Tensor }): import('@tensorflow/tfjs').Scalar;
export {};
`;

const snippets = [...readFileSync(join(REPO, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);

t.ok(snippets.length >= 2, `${snippets.length} TypeScript snippets in README.md`);

t.test('every ```ts snippet of README.md type-checks', async (t) => {
  const dir = mkdtempSync(join(REPO, '.readme-snippets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files = snippets.map((code, i) => {
    const file = join(dir, `snippet-${i + 1}.ts`);
    writeFileSync(file, `${code}${READER_NAMES}`);
    return file;
  });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: ['node'], strict: true, noEmit: true, skipLibCheck: true, noUnusedLocals: false },
      files,
    }),
  );
  let out = '';
  try {
    execFileSync(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    out = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
  }
  t.equal(out, '', 'tsc: no errors');

  // And the check can fail: the old README line does not compile.
  const bad = join(dir, 'old-readme.ts');
  writeFileSync(bad, `import { init, broadcastVariables } from 'zcoll';\nconst comm = await init();\nconst model = makeModel();\nawait broadcastVariables(comm, model.trainableWeights.map((w) => w.val), 0);\n${READER_NAMES}`);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8')), files: [bad] }));
  let badOut = '';
  try {
    execFileSync(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    badOut = (e as { stdout?: string }).stdout ?? '';
  }
  t.match(badOut, /Property 'val' is protected/);
});
