/** zcoll's version, read from its package.json (ranks with different versions refuse each other). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
export const ZCOLL_VERSION: string = (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
