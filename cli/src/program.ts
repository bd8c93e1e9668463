/**
 * The `agent-fleet` command line: one commander program per call, output through the given streams,
 * errors turned into exit codes here (never `process.exit` inside a command).
 */

import { Defaults, Env } from '@agent-fleet/contract';
import { Command, CommanderError } from 'commander';
import { CliError, CliExit, type CliIo, type CommandIo, Secrets, writeLine } from './io';
import { type LintFlags, runLint, type StdinSource } from './lint';
import { type PlanFlags, runPlan } from './plan/command';
import { type ResultsFlags, runResults } from './results';
import { runSeed, type SeedFlags } from './seed';
import { runVerify, type VerifyFlags } from './verify';
import { CLI_VERSION } from './version';

function urlOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'AMQP URL of the broker (amqp://user:password@host:5672/vhost)')
    .option('--url-env <var>', `environment variable holding the AMQP URL (default ${Env.TASK_QUEUE_URL})`);
}

/** Builds the program; `setResult` receives each command's exit code. */
export function buildProgram(io: CommandIo & StdinSource, setResult: (code: number) => void): Command {
  const program = new Command();
  program
    .name('agent-fleet')
    .description(
      'Seed an agent task queue, simulate KEDA ScaledJob scaling, verify a deployed agent fleet, lint its manifests, read the results of a batch run from task files.',
    )
    .version(CLI_VERSION, '-V, --version', 'print the version of @agent-fleet/cli')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Commander repeats what it did not understand, e.g. a mistyped `--uri=amqp://TOKEN@host`.
      outputError: (s, write) => write(io.secrets.redact(s)),
    });

  urlOptions(
    program
      .command('seed')
      .description(
        'publish test tasks (or one task per JSONL line) to the task queue, with publisher confirms',
      )
      .option('--count <n>', 'number of test tasks to publish')
      .option('--file <tasks.jsonl>', 'publish one task per line: {"id"?: string, "input": any}')
      .option('--queue <name>', 'task queue', Defaults.taskQueueName)
      .option('--id-prefix <prefix>', 'prefix of generated task ids (default: seed-<random>)')
      .option('--no-progress', 'no progress bar (it is drawn on stderr only when stderr is a terminal)'),
  ).action(async (flags: SeedFlags) => setResult(await runSeed(flags, io)));

  program
    .command('plan')
    .description('simulate KEDA ScaledJob scaling over time with KEDA 2.16 arithmetic; table, SVG and HTML')
    .option(
      '--from <file.k8s.yaml>',
      "read the ScaledJob (or an AgentPool's ScaledObject) from a synthesized manifest",
    )
    .option('--name <scaledjob>', 'which ScaledJob in --from (needed when there are several)')
    .option('--value <n>', 'trigger value: messages per Job')
    .option('--activation-value <n>', 'trigger activationValue')
    .option('--max <n>', 'maxReplicaCount (Jobs)')
    .option('--min <n>', 'minReplicaCount')
    .option('--polling-interval <duration>', 'pollingInterval (e.g. 30, 30s)')
    .option('--strategy <name>', 'scaling strategy: default, accurate, eager or custom')
    .option('--custom-deduction <n>', 'customScalingQueueLengthDeduction (custom strategy)')
    .option('--custom-percentage <fraction>', 'customScalingRunningJobPercentage (custom strategy)')
    .option('--protocol <protocol>', 'RabbitMQ trigger protocol: amqp (ready only) or http')
    .option('--exclude-unacknowledged', 'http only: count ready messages only')
    .option('--max-tasks <n>', `messages a Job takes before it exits (${Env.AGENT_MAX_TASKS}; 0 = no limit)`)
    .option(
      '--concurrency <n>',
      `tasks a Job runs at once (${Env.AGENT_CONCURRENCY}; default: the manifest's, else the trigger value)`,
    )
    .option('--idle-exit <duration>', `idle time before a Job exits (${Env.AGENT_IDLE_EXIT_SECONDS})`)
    .option('--burst <n>', 'arrivals: N tasks at time 0')
    .option('--rate <n>', 'arrivals: N tasks per minute (with --for)')
    .option('--for <duration>', 'how long tasks arrive at --rate (e.g. 10m)')
    .option('--task-duration <dist>', 'task duration: 60s, uniform:30-90, exp:60, normal:60,15 (default 60s)')
    .option(
      '--startup <duration>',
      'from pod scheduled (Job creation unless --pod-pending) to consuming (default 10s)',
    )
    .option(
      '--pod-pending <dist>',
      'time a new pod stays Pending (unschedulable), --task-duration syntax (default 0)',
    )
    .option(
      '--pending-pod-conditions <list>',
      'scalingStrategy.pendingPodConditions, e.g. Ready,PodScheduled',
    )
    .option('--seed <n>', 'PRNG seed for task durations (default 1)')
    .option('--horizon <duration>', 'simulate at most this long (default 1h)')
    .option('--llm-requests-per-task <n>', 'LLM requests per task')
    .option('--llm-tokens-per-task <n>', 'LLM tokens per task')
    .option('--llm-rpm <n>', 'gateway limit: requests per minute')
    .option('--llm-tpm <n>', 'gateway limit: tokens per minute')
    .option('--llm-utilization <fraction>', 'share of the gateway limits the fleet may use (default 0.8)')
    .option(
      '--token-budget <tpm>',
      'model the token-budget gate trigger: no new Jobs while the fleet uses this many tokens/min',
    )
    .option('--token-window <duration>', "the gate query's rate() window (default 2m)")
    .option(
      '--kueue-quota <pods>',
      'model Kueue admission: Jobs wait suspended until at most this many admitted agent pods run (required for a ScaledJob labelled kueue.x-k8s.io/queue-name)',
    )
    .option('--svg <file>', 'write the chart (queue depth vs Jobs over time) as SVG')
    .option('--html <file>', 'write an HTML page embedding the chart, summary and table')
    .option('--json', 'print the polls and summary as JSON instead of the table')
    .option(
      '--pool',
      'simulate an AgentPool (Deployment scaled by a ScaledObject, the construct defaults) next to the ScaledJob',
    )
    .action(async (flags: PlanFlags) => setResult(await runPlan(flags, io)));

  urlOptions(
    program
      .command('verify')
      .description('seed tasks into a deployed fleet and check that agents complete them (needs a cluster)')
      .requiredOption('-n, --namespace <namespace>', 'namespace of the ScaledJob')
      .option('--count <n>', 'tasks to seed', '10')
      .option('--name <scaledjob>', 'which ScaledJob (needed when the namespace has several)')
      .option('--queue <name>', "task queue (default: the ScaledJob trigger's queueName)")
      .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
      .option('--timeout <duration>', 'give up after this long (default 10m)')
      .option('--interval <duration>', 'time between polls of the cluster (default 2s)')
      .option(
        '--allow-insecure-tls',
        'talk to an API server whose certificate is not verified (insecure-skip-tls-verify), sending it the credentials',
      ),
  ).action(async (flags: VerifyFlags) => setResult(await runVerify(flags, io)));

  program
    .command('lint')
    .description(
      'check manifests (YAML or JSON; "-" or no file: standard input) against the Kubernetes 1.32 and CRD ' +
        'schemas, Pod Security "restricted" and the fleet rules; exit 1 on an error finding, 2 on unreadable input',
    )
    .argument('[files...]', 'manifest files')
    .option('--format <format>', 'text (grouped by object) or json', 'text')
    .option('--rule <ids>', 'run only these rules, e.g. AF201,AF202')
    .option('--skip <ids>', 'do not run these rules, e.g. AF205')
    .action(async (files: string[], flags: LintFlags) => setResult(await runLint(files, flags, io)));

  program
    .command('results')
    .description(
      'print or export the results of a batch run from task files, read from a copy of its checkpoint store (one *.result.json per task); exit 1 when a task failed or a file is unusable, 2 on bad flags or an unreadable directory',
    )
    .argument('<dir>', 'the checkpoint store (or a copy of it)')
    .option('--format <format>', 'table, json or jsonl', 'table')
    .option('--status <status>', 'show only results with this status: succeeded or failed')
    .option('--out <file>', 'write the results to this file instead of standard output')
    .action(async (dir: string, flags: ResultsFlags) => setResult(await runResults(dir, flags, io)));

  return program;
}

/**
 * `stream` with every write passed through `secrets.redact` once the command has read a credential;
 * everything else (isTTY, columns, events) is the stream's own, so progress bars still see a terminal.
 * Each print site redacts too: this is the net under them, for a message nobody thought could carry a
 * credential (a library's error text). Before the first credential is read nothing has touched the
 * network and the output is the CLI's own (help, usage errors with their example URLs), left as it is.
 */
function redacting(stream: NodeJS.WritableStream, secrets: Secrets): NodeJS.WritableStream {
  const clean = (text: string) => (secrets.size === 0 ? text : secrets.redact(text));
  return new Proxy(stream, {
    get(target, property) {
      if (property === 'write') {
        return (chunk: unknown, ...rest: unknown[]) =>
          (target.write as (...args: unknown[]) => boolean)(
            typeof chunk === 'string'
              ? clean(chunk)
              : chunk instanceof Uint8Array
                ? clean(Buffer.from(chunk).toString('utf8'))
                : chunk,
            ...rest,
          );
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Runs the CLI with user arguments (no `node` / script entries); resolves to the exit code. */
export async function runCli(argv: readonly string[], callerIo: CliIo & StdinSource): Promise<number> {
  const secrets = new Secrets();
  const io: CommandIo = {
    ...callerIo,
    stdout: redacting(callerIo.stdout, secrets),
    stderr: redacting(callerIo.stderr, secrets),
    secrets,
  };
  let code: number = CliExit.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return CliExit.usage;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; commander already printed its message.
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.help' ||
        error.code === 'commander.version'
      ) {
        return CliExit.ok;
      }
      return CliExit.usage;
    }
    if (error instanceof CliError) {
      // Built to be shown (credentials already redacted where it was made); io.stderr adds the known ones.
      writeLine(io.stderr, `agent-fleet: ${error.message}`);
      return error.exitCode;
    }
    // The message only: a stack could carry a URL with its password.
    writeLine(
      io.stderr,
      `agent-fleet: unexpected error: ${secrets.redact(String((error as Error)?.message ?? error))}`,
    );
    return CliExit.failure;
  }
}
