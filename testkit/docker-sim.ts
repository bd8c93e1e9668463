/**
 * Runs a Dockerfile stage without a Docker engine, on this machine's Node and npm: each stage gets
 * a directory standing for its root file system; WORKDIR, COPY (from the build context, filtered
 * by .dockerignore, or `--from` an earlier stage) and RUN (through `sh -c`, with the stage's
 * absolute paths rewritten into its directory and `--mount` flags dropped) are carried out in it.
 * Enough for build stages that compile and install; a stage changing the system (apt-get, rm under
 * /usr, chown) is simulated with `skipRun` (its COPYs only).
 */
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { type Dockerfile, dockerignore, type Stage } from './dockerfile';
import { type RunResult, runOk } from './exec';

export interface SimulatedStage {
  /** The directory standing for the stage's `/`. */
  readonly root: string;
  /** Every RUN, in order, with its rewritten command and result. */
  readonly runs: RunResult[];
}

/** Maps an absolute path of the stage into its root directory. */
export function inStage(root: string, absolute: string): string {
  return path.join(root, absolute);
}

function tokens(args: string): string[] {
  return args.split(/\s+/).filter((t) => t !== '');
}

/** Top-level folders of a base image's file system, which a simulated RUN must not rewrite. */
const SYSTEM = new Set([
  'bin',
  'boot',
  'dev',
  'etc',
  'home',
  'lib',
  'lib64',
  'opt',
  'proc',
  'root',
  'run',
  'sbin',
  'sys',
  'tmp',
  'usr',
  'var',
]);

/**
 * Rewrites a RUN command's absolute paths into the stage directory (e.g. `/src`, `/app`, an
 * `--outDir /handler/...`), except system paths (/usr, /tmp, /root, ...), which a stage meant for
 * this simulation must not write.
 */
function rewrite(command: string, root: string): string {
  return command.replace(/(^|[\s=])\/([A-Za-z0-9_.-]+)(?=[/\s]|$)/g, (whole, before: string, top: string) => {
    if (SYSTEM.has(top)) return whole;
    return `${before}${path.join(root, top)}`;
  });
}

/** Copies a file or a directory (the entries the filter keeps; symlinks stay symlinks, as in COPY). */
function copyFiltered(source: string, dest: string, keep: (file: string) => boolean): void {
  mkdirSync(path.dirname(dest), { recursive: true });
  cpSync(source, dest, { recursive: true, verbatimSymlinks: true, filter: (file) => keep(file) });
}

export async function simulateStage(options: {
  readonly dockerfile: Dockerfile;
  readonly stage: Stage;
  /** The build context (the repository root for worker/Dockerfile). */
  readonly context: string;
  /** The directory standing for the stage's `/` (created). */
  readonly root: string;
  /** Stages already simulated, by name, for `COPY --from`. */
  readonly stages?: Record<string, SimulatedStage>;
  /** Skip RUN instructions (e.g. the runtime stage's system changes). @default false */
  readonly skipRun?: boolean;
}): Promise<SimulatedStage> {
  const { stage, context, root } = options;
  const ignoreFile = path.join(context, '.dockerignore');
  const ignored = existsSync(ignoreFile) ? dockerignore(readFileSync(ignoreFile, 'utf8')) : () => false;
  const keepFromContext = (file: string) => !ignored(path.relative(context, file).split(path.sep).join('/'));
  let workdir = '/';
  const runs: RunResult[] = [];
  mkdirSync(root, { recursive: true });

  const absolute = (p: string) => (p.startsWith('/') ? p : path.posix.join(workdir, p));

  for (const instruction of stage.instructions) {
    switch (instruction.keyword) {
      case 'WORKDIR': {
        workdir = absolute(instruction.args.trim());
        mkdirSync(inStage(root, workdir), { recursive: true });
        break;
      }
      case 'COPY': {
        const parts = tokens(instruction.args);
        const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
        const paths = parts.filter((p) => !p.startsWith('--'));
        const target = absolute(paths.pop() ?? '.');
        for (const source of paths) {
          let sourcePath: string;
          let keep: (file: string) => boolean = () => true;
          if (from) {
            const origin = options.stages?.[from];
            if (!origin) throw new Error(`COPY --from=${from}: stage ${from} was not simulated`);
            sourcePath = inStage(origin.root, source);
          } else {
            sourcePath = path.join(context, source);
            keep = keepFromContext;
            if (!keep(sourcePath)) throw new Error(`COPY ${source}: excluded by .dockerignore`);
          }
          if (!existsSync(sourcePath)) throw new Error(`COPY ${source}: no such file (${sourcePath})`);
          const isDir = statSync(sourcePath).isDirectory();
          // `COPY a b c dir/` or `COPY dir/ dest/`: into the target directory; `COPY file path`: as path.
          const dest =
            isDir || target.endsWith('/') || paths.length > 1
              ? isDir
                ? inStage(root, target)
                : path.join(inStage(root, target), path.basename(source))
              : inStage(root, target);
          copyFiltered(sourcePath, dest, keep);
        }
        break;
      }
      case 'RUN': {
        if (options.skipRun) break;
        const command = rewrite(instruction.args.replace(/--mount=\S+\s*/g, ''), root);
        runs.push(await runOk('sh', ['-c', command], { cwd: inStage(root, workdir), timeoutMs: 300_000 }));
        break;
      }
      default:
        break; // ENV, ARG, USER, EXPOSE, ENTRYPOINT: read by the caller where needed.
    }
  }
  return { root, runs };
}
