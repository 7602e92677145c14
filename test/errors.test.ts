// README.md's list of error codes is ERROR_CODES of lib/errors.ts, one line per code saying when it
// happens, in the same order: a code added to or removed from either side fails here.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ERROR_CODES, ZcollError, isZcollError } from '../lib/errors.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

t.test('README.md documents every code of ERROR_CODES, and no other', async (t) => {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('Errors are `ZcollError`s with a stable `code`');
  t.ok(start >= 0, 'README.md has the paragraph on error codes');
  // The list items right after that paragraph: "- `CODE`: when it happens".
  const documented: Array<{ code: string; when: string }> = [];
  for (const line of text.slice(start).split('\n').slice(1)) {
    if (line.trim() === '') {
      if (documented.length > 0) break;
      continue;
    }
    if (line.startsWith('  ')) continue; // a wrapped description
    const m = /^- `([A-Z]+)`: (.+)$/.exec(line);
    if (m === null) break;
    documented.push({ code: m[1], when: m[2] });
  }
  t.same(
    documented.map((d) => d.code),
    [...ERROR_CODES],
    'the same codes in the same order',
  );
  for (const d of documented) t.ok(d.when.trim().length > 10, `${d.code}: says when it happens`);
});

t.test('ZcollError carries its code and context', async (t) => {
  const e = new ZcollError('ENUMERIC', 'no valid row', { rank: 2, op: 'aggregate', seq: 7 });
  t.ok(isZcollError(e, 'ENUMERIC'));
  t.notOk(isZcollError(e, 'EINVAL'));
  t.equal(e.message, 'ENUMERIC: [rank 2 aggregate #7] no valid row');
});
