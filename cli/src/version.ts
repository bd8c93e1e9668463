import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** The installed package's version, read from its package.json (one level above `dist/`). */
export const CLI_VERSION: string = (
  JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;
