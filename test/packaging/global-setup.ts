import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

/**
 * Builds every package (`tsc -b tsconfig.json cli`, what `npm run build` runs) once before the
 * suites: their `npm pack` prepack builds then find everything up to date, and the agent-image
 * suite installs the worker's dist as built here.
 */
export default function globalSetup(): void {
  const root = path.join(__dirname, '..', '..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'tsconfig.json', 'cli'], {
    cwd: root,
    stdio: 'inherit',
  });
}
