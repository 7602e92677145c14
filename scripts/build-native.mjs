// Builds the optional N-API addon in native-bindings/ (the `install` script). Never fails the
// install: without the addon, zcoll uses its JS kernels and the ZeroMQ-only transport, and this
// script says so once. After every attempt it writes native-bindings/build/zcoll-build.json
// ({ ok, reason, ... }) so the loader knows whether the addon was expected at run time.
//
// node-gyp is taken from, in order: npm's own (npm_config_node_gyp, set when npm runs us), the copy
// bundled with the npm next to this node binary, then `npx --no-install node-gyp`. Headers come from
// npm_config_nodedir when npm set it, else from this node's own prefix when it ships them (Debian's
// nodejs does in /usr/include/node), so no header download is needed.
// ZCOLL_SKIP_NATIVE=1 skips the build; ZCOLL_DEBUG=1 prints the compiler output on failure.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUILD_TIMEOUT_MS = 10 * 60 * 1000;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native-bindings');

function nodeGypCommand() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return { cmd: process.execPath, args: [fromNpm] };
  const prefix = join(dirname(process.execPath), '..');
  for (const candidate of [
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]) {
    if (existsSync(candidate)) return { cmd: process.execPath, args: [candidate] };
  }
  return { cmd: process.platform === 'win32' ? 'npx.cmd' : 'npx', args: ['--no-install', 'node-gyp'] };
}

function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function writeStatus(status) {
  try {
    mkdirSync(join(dir, 'build'), { recursive: true });
    writeFileSync(
      join(dir, 'build', 'zcoll-build.json'),
      `${JSON.stringify({ ...status, node: process.version, abi: process.versions.modules, at: new Date().toISOString() }, null, 2)}\n`,
    );
  } catch {
    // A read-only install dir only costs the loader its hint; never fail the install for it.
  }
}

function fallBack(reason, output) {
  writeStatus({ ok: false, reason });
  process.stderr.write(`zcoll: native addon not built (${reason}); using JS kernels and the ZeroMQ-only transport\n`);
  if (process.env.ZCOLL_DEBUG && output) process.stderr.write(`${output}\n`);
}

function main() {
  if (process.env.ZCOLL_SKIP_NATIVE === '1' || !existsSync(join(dir, 'binding.gyp'))) return;
  const { cmd, args } = nodeGypCommand();
  const r = spawnSync(cmd, [...args, 'rebuild', '--jobs=max', ...nodedirArgs()], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim();
  if (r.error) return fallBack(`could not run node-gyp: ${r.error.message}`, output);
  if (r.status !== 0) {
    const lastError = output.split('\n').filter((line) => /error/i.test(line)).slice(0, 1)[0];
    return fallBack(`node-gyp exited with ${r.status ?? r.signal}${lastError ? `: ${lastError.trim()}` : ''}`, output);
  }
  // A build that links but cannot be loaded (wrong ABI, missing symbol) is a failed build too.
  const addonPath = join(dir, 'build', 'Release', 'zcoll_native.node');
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addonPath)}).simdLevel()`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (probe.status !== 0) return fallBack(`built addon does not load: ${(probe.stderr ?? '').split('\n')[0]}`, probe.stderr);
  writeStatus({ ok: true });
}

try {
  main();
} catch (err) {
  fallBack(`unexpected error: ${err instanceof Error ? err.message : String(err)}`, '');
}
process.exit(0);
