// Builds the optional N-API addon in native-bindings/. Never fails the install: without the addon,
// zcoll uses its JS kernels and the ZeroMQ-only transport, and says so once at run time.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native-bindings');
if (process.env.ZCOLL_SKIP_NATIVE === '1' || !existsSync(join(dir, 'binding.gyp'))) process.exit(0);
const gyp = process.env.npm_config_node_gyp;
const cmd = gyp ? process.execPath : 'npx';
const args = gyp ? [gyp, 'rebuild'] : ['--no-install', 'node-gyp', 'rebuild'];
const r = spawnSync(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write('zcoll: native addon not built; using JS kernels and the ZeroMQ-only transport\n');
  if (process.env.ZCOLL_DEBUG) process.stderr.write(`${r.stdout}\n${r.stderr}\n`);
}
process.exit(0);
