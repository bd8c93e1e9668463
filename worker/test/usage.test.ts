import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Env, ExitCode } from '@agent-fleet/contract';
import { usageText } from '../src/usage';
import { BIN } from './support/harness';

test('--help lists every variable of the contract and every exit code', () => {
  const text = usageText();
  for (const name of Object.values(Env)) {
    expect(text).toMatch(new RegExp(`^  ${name} `, 'm'));
  }
  for (const code of Object.values(ExitCode)) {
    expect(text).toMatch(new RegExp(`^  ${code} `, 'm'));
  }
});

test('agent-worker --help and --version exit 0; an unknown argument is a configuration error', () => {
  const version = require(path.join(__dirname, '..', 'package.json')).version as string;
  const help = spawnSync(process.execPath, [BIN, '--help'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
  expect(help.status).toBe(0);
  expect(help.stdout).toBe(usageText());
  const v = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
  expect(v.status).toBe(0);
  expect(v.stdout).toBe(`${version}\n`);
  const bad = spawnSync(process.execPath, [BIN, '--hlep'], { encoding: 'utf8' });
  expect(bad.status).toBe(ExitCode.configError);
  expect(bad.stderr).toMatch(/unknown argument "--hlep"/);
});
