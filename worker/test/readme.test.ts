import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_TASK_DIR,
  Defaults,
  Env,
  ExitCode,
  Metrics,
  TaskFileEnv,
  TaskSources,
} from '@agent-fleet/contract';

// The README documents the contract; this keeps the two from drifting apart.
const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

test('the README names every contract variable, metric and exit code', () => {
  for (const name of [...Object.values(Env), ...Object.values(TaskFileEnv), ...Object.values(TaskSources)]) {
    expect(readme).toContain(`\`${name}\``);
  }
  for (const [name, metric] of Object.entries(Metrics)) {
    if (name !== 'circuitOpen') {
      expect(readme).toContain(`\`${metric}`);
    }
  }
  for (const code of Object.values(ExitCode)) {
    expect(readme).toContain(String(code));
  }
  expect(readme).toContain(`\`${Defaults.taskQueueName}\``);
  expect(readme).toContain(`\`${Defaults.resultQueueName}\``);
  expect(readme).toContain(`\`${Defaults.checkpointDir}\``);
  expect(readme).toContain(`\`${Defaults.metricsPort}\``);
  expect(readme).toContain(`\`${DEFAULT_TASK_DIR}\``);
});
