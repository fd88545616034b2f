/**
 * `balancedbio`: the engine's command line. Exit codes: 0 ok, 1 run failed or cancelled, 2 bad input
 * (invalid experiment, usage error, unreadable or locked run). Results go to stdout, progress and logs to
 * stderr, so `--json` output can be piped.
 */
import { MODEL_BACKENDS, type ModelBackend } from '../model/backend';
import { Command, CommanderError, Option } from 'commander';
import { BbioError, toBbioError } from '../util/errors';
import { runInfer } from './commands/infer';
import { runOntologyLookup } from './commands/lookup';
import { runSynthCommand } from './commands/synth';
import { createLogger } from '../util/log';
import { runCompare } from './commands/compare';
import { runDoctor } from './commands/doctor';
import { COMPARE_BOOTSTRAP } from '../eval/report';
import { runEvalCommand } from './commands/eval';
import { TASK_NAMES } from '../eval/tasks/registry';
import { runExportCommand } from './commands/export';
import { runRun, runSlurmScriptCommand } from './commands/run';
import { runRunsList, runRunsShow } from './commands/runs';
import { runSlurmCancel } from './commands/slurm';
import { runSweepReport } from './commands/sweep';
import { runValidate } from './commands/validate';
import { cliPathPolicy, EXIT, processIo, type CliIo } from './io';

declare const BBIO_VERSION: string | undefined;
/** Injected by the bundler; under tsx (tests) read from package.json. */
function version(): string {
  if (typeof BBIO_VERSION === 'string') return BBIO_VERSION;
  return (require('../../package.json') as { version: string }).version;
}

/** How `--model` of infer and eval is read; the order is resolveModelArg's (engine/model/hub.ts). */
const MODEL_HELP = 'a folder that exists wins; otherwise ORG/NAME is a Hugging Face Hub id, downloaded into the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) or, with HF_HUB_OFFLINE=1, taken from it. HF_ENDPOINT and HF_TOKEN (or $HF_HOME/token) are honoured';

/** Commander's accumulator for a repeatable option. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('balancedbio')
    .description('BalancedBio: align a language model across biomedical capabilities (MKGSG data, LoRA with orthogonal gradient projection, capability-aware GRPO, per-capability evaluation).')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  program
    .command('validate')
    .description('check experiment files: YAML syntax, schema and semantic rules; prints file:line:col problems')
    .argument('<files...>', 'experiment files (*.bbio.yaml)')
    .option('--json', 'machine-readable output', false)
    .option('--workspace <dir>', 'the workspace every path of an experiment must stay inside (default: the current directory)')
    .option('--allow-path <dir>', 'also allow paths inside this folder (repeatable)', collect, [])
    .action(async (files: string[], o: { json: boolean; workspace?: string; allowPath: string[] }) => setExit(await runValidate(files, o, io)));

  program
    .command('run')
    .description('run the experiment pipeline: synthesize → pretrain → sft → grpo → evaluate')
    .argument('<file>', 'experiment file (*.bbio.yaml)')
    .option('--stages <list>', 'comma-separated subset of stages to run, e.g. synthesize,pretrain')
    .option('--resume <runDir>', 'continue a run folder: finished stages are skipped, an interrupted one resumes from its checkpoint')
    .addOption(new Option('--steps-scale <x>', 'multiply every step count, and below 1 the evaluation items too (0.1 for a quick smoke run)').default(1).argParser(Number))
    .option('--json', 'stream events to stdout as JSON lines (schemas/events.schema.json)', false)
    .option('--workspace <dir>', 'the workspace every path of the experiment must stay inside (default: the current directory)')
    .option('--allow-path <dir>', 'also allow paths inside this folder (repeatable)', collect, [])
    .addOption(new Option('--parallel <n>', 'for a file with variants: run N variants at once, each in a child process (default: sweep.parallel)').argParser(Number))
    .addOption(new Option('--executor <name>', 'where to run: local, or slurm (a sweep as one sbatch job array; see the file\'s slurm: block). Default: the file\'s executor').choices(['local', 'slurm']))
    .addOption(new Option('--backend <name>', 'compute backend, overriding the file\'s model.backend (torch: the PyTorch worker)').choices([...MODEL_BACKENDS]))
    .addOption(new Option('--sweep-dir <dir>', 'internal: the sweep folder of --variant').hideHelp())
    .addOption(new Option('--variant <name>', 'internal: run only this variant of the sweep in --sweep-dir').hideHelp())
    .addHelpText('after', '\nA file with `variants:` runs every variant as its own run in runs/<stamp>-<name>-sweep/ and writes a sweep report;\n--resume then takes the sweep folder and continues the unfinished variants.')
    .action(async (file: string, o: { stages?: string; resume?: string; stepsScale: number; json: boolean; parallel?: number; executor?: string; backend?: ModelBackend; sweepDir?: string; variant?: string; workspace?: string; allowPath: string[] }, cmd: Command) =>
      setExit(await runRun(file, { ...o, version: version(), stepsScaleGiven: cmd.getOptionValueSource('stepsScale') !== 'default' }, io)));

  program
    .command('sweep')
    .description('sweeps: folders of variant runs made by `run` on a file with variants')
    .command('report')
    .description('(re)write a sweep\'s report from its runs: mean ± sd over seeds per capability, chance-corrected balance, interference, exact sign-flip test against the first row (Holm-adjusted); prints the table')
    .argument('<sweepDir>', 'sweep folder, runs/<stamp>-<name>-sweep')
    .option('--json', 'print the report as JSON', false)
    .action(async (dir: string, o: { json: boolean }) => setExit(await runSweepReport(dir, o, io)));

  const slurm = program.command('slurm').description('Slurm: the batch script a run submits, and cancelling submitted work');
  slurm
    .command('script')
    .description('print the exact batch script `run --executor slurm` would submit for FILE (a sweep: one job array, one task per unfinished variant)')
    .argument('<file>', 'experiment file (*.bbio.yaml)')
    .option('--resume <dir>', 'the script of resuming this sweep (or run) folder: only its unfinished variants')
    .addOption(new Option('--parallel <n>', 'array tasks at once (the %N throttle; default: sweep.parallel)').argParser(Number))
    .addOption(new Option('--steps-scale <x>', 'as for run').default(1).argParser(Number))
    .option('--stages <list>', 'as for run')
    .addOption(new Option('--backend <name>', 'as for run: the tasks run on this compute backend').choices([...MODEL_BACKENDS]))
    .option('--workspace <dir>', 'the workspace every path of the experiment must stay inside (default: the current directory)')
    .option('--allow-path <dir>', 'also allow paths inside this folder (repeatable)', collect, [])
    .action(async (file: string, o: { resume?: string; parallel?: number; stepsScale: number; stages?: string; backend?: ModelBackend; workspace?: string; allowPath: string[] }) => setExit(await runSlurmScriptCommand(file, o, io)));
  slurm
    .command('cancel')
    .description('scancel a sweep\'s queued and running tasks (a sweep folder), or one Slurm job id; resume later with run --resume DIR --executor slurm')
    .argument('<target>', 'sweep folder, or a job id (123 or 123_4)')
    .action(async (target: string) => setExit(await runSlurmCancel(target, io)));

  program
    .command('synth')
    .description('generate the MKGSG dataset of an experiment (the synthesize stage on its own): train/val/test JSONL and a dataset card')
    .argument('<file>', 'experiment file (*.bbio.yaml)')
    .option('--out <dir>', 'output folder (default: <experiment dir>/data/<name>)')
    .option('--json', 'print the dataset card as JSON', false)
    .option('--workspace <dir>', 'the workspace every path of the experiment must stay inside (default: the current directory)')
    .option('--allow-path <dir>', 'also allow paths inside this folder (repeatable)', collect, [])
    .action(async (file: string, o: { out?: string; json: boolean; workspace?: string; allowPath: string[] }) => setExit(await runSynthCommand({ file, ...(o.out ? { out: o.out } : {}), json: o.json, paths: cliPathPolicy(io, o) }, io)));

  program
    .command('ontology')
    .description('ontology tools')
    .command('lookup')
    .description('find ontology terms by name, synonym, id, prefix or a misspelling; the built-in clinical graph by default')
    .argument('<term>', 'what to look up, e.g. "heart attack"')
    .option('--ontology <file>', 'an OBO file instead of the built-in graph')
    .addOption(new Option('--limit <n>', 'matches to print').default(10).argParser(Number))
    .option('--json', 'machine-readable output', false)
    .action(async (term: string, o: { ontology?: string; limit: number; json: boolean }) => setExit(await runOntologyLookup({ term, json: o.json, limit: o.limit, ...(o.ontology ? { ontology: o.ontology } : {}) }, (l) => io.out(l))));

  program
    .command('infer')
    .description('run a prompt through a Hugging Face style checkpoint folder or Hub model (greedy or sampled), or print log-probabilities')
    .requiredOption('--model <dir|ORG/NAME>', MODEL_HELP)
    .option('--revision <rev>', 'Hub branch, tag or commit for an ORG/NAME model', 'main')
    .option('--prompt <text>', 'prompt text (tokenized with the checkpoint tokenizer)')
    .option('--prompt-ids <ids>', 'comma-separated token ids, bypassing the tokenizer')
    .option('--chat <text>', 'a user turn, rendered in the model\'s chat format; generation stops at the end of the assistant\'s turn')
    .option('--show-prompt', 'print the exact prompt text first, as {"prompt": …}', false)
    .addOption(new Option('--max-new-tokens <n>', 'tokens to generate').default(32).argParser(Number))
    .addOption(new Option('--temperature <t>', '0 = greedy').default(0).argParser(Number))
    .addOption(new Option('--seed <n>', 'sampling seed').default(0).argParser(Number))
    .option('--logprobs', 'print log-probabilities over the vocabulary at every prompt position as JSON', false)
    .addOption(new Option('--backend <name>', 'compute backend (torch: the PyTorch worker)').choices([...MODEL_BACKENDS]).default('auto'))
    .action(async (o: { model: string; revision: string; prompt?: string; promptIds?: string; chat?: string; showPrompt: boolean; maxNewTokens: number; temperature: number; seed: number; logprobs: boolean; backend: ModelBackend }) => {
      const promptIds = o.promptIds?.split(',').map((x) => Number(x.trim()));
      if (promptIds?.some((x) => !Number.isInteger(x))) throw new BbioError('E_USAGE', `--prompt-ids must be comma-separated integers, got "${o.promptIds}"`);
      setExit(await runInfer({ model: o.model, revision: o.revision, cwd: io.cwd, ...(io.env ? { env: io.env } : {}), ...(o.prompt !== undefined ? { prompt: o.prompt } : {}), ...(promptIds ? { promptIds } : {}), ...(o.chat !== undefined ? { chat: o.chat } : {}), showPrompt: o.showPrompt, maxNewTokens: o.maxNewTokens, temperature: o.temperature, seed: o.seed, logprobs: o.logprobs, backend: o.backend, log: createLogger({ write: (l) => io.err(l) }) }, (l) => io.out(l)));
    });

  const runs = program.command('runs').description('inspect the run store');
  runs
    .command('list')
    .description('list runs, newest first')
    .option('--dir <runsDir>', 'runs directory', 'runs')
    .option('--json', 'machine-readable output', false)
    .action(async (o: { dir: string; json: boolean }) => setExit(await runRunsList(o, io)));
  runs
    .command('show')
    .description('show a run: stages, status, time and key metrics')
    .argument('<run>', 'run folder, or a unique part of its name under --dir')
    .option('--dir <runsDir>', 'runs directory', 'runs')
    .option('--json', 'machine-readable output', false)
    .action(async (run: string, o: { dir: string; json: boolean }) => setExit(await runRunsShow(run, o, io)));

  program
    .command('compare')
    .description('compare runs side by side: per-capability scores with deltas; a delta whose paired bootstrap interval over the shared items includes 0 is marked n.s.')
    .argument('<runs...>', 'run folders, or unique parts of their names under --dir')
    .option('--dir <runsDir>', 'runs directory', 'runs')
    .option('--md <file>', 'also write the comparison as Markdown')
    .addOption(new Option('--bootstrap <B>', 'paired bootstrap resamples for the significance of each delta').argParser(Number).default(COMPARE_BOOTSTRAP.resamples))
    .option('--json', 'machine-readable output', false)
    .action(async (r: string[], o: { dir: string; md?: string; bootstrap: number; json: boolean }) => setExit(await runCompare(r, o, io)));

  program
    .command('eval')
    .description('score a checkpoint on a benchmark (--task) or MMLU-format files, or a run\'s base/SFT/GRPO models on its capability suites; prints accuracy, standard error and item count')
    .option('--model <dir|ORG/NAME>', `Hugging Face checkpoint folder (config.json, tokenizer.json), run folder, or Hub model id. ${MODEL_HELP}`)
    .option('--revision <rev>', 'Hub branch, tag or commit for an ORG/NAME model', 'main')
    .option('--task <name>', `benchmark in its published format: ${TASK_NAMES.join(', ')}`)
    .option('--data <path>', 'the task\'s file, or a folder holding it (multimedqa: a folder with all its members)')
    .option('--responses <file>', 'ifeval: score these responses ({"prompt", "response"} JSONL) without a model')
    .addOption(new Option('--limit <n>', 'first N documents of each task set (0 = all)').argParser(Number))
    .option('--mmlu <path>', 'MMLU-format CSV file or folder of <subject>_test.csv files (rows question,A,B,C,D,answer); same as --task mmlu --data PATH')
    .option('--subjects <list>', 'comma-separated subjects to keep, e.g. anatomy,medical_genetics')
    .addOption(new Option('--shots <k>', 'few-shot examples: from <subject>_dev.csv for MMLU (default: the run\'s eval.few_shot, or 5), other tasks sample other documents of the file (default 0)').argParser(Number))
    .addOption(new Option('--max-items <n>', 'items per suite or subject (0 = all)').argParser(Number))
    .addOption(new Option('--backend <name>', 'compute backend (torch: the PyTorch worker)').choices([...MODEL_BACKENDS]).default('auto'))
    .option('--json', 'machine-readable output', false)
    .action(async (o: { model?: string; revision: string; task?: string; data?: string; responses?: string; limit?: number; mmlu?: string; subjects?: string; shots?: number; maxItems?: number; backend: ModelBackend; json: boolean }) => setExit(await runEvalCommand(o, io)));

  program
    .command('export')
    .description('export a run\'s metrics: TensorBoard event files, CSV, or an MLflow file store (no server needed)')
    .argument('<run>', 'run folder, or a unique part of its name under --dir')
    .addOption(new Option('--to <format>', 'tensorboard | csv | mlflow').choices(['tensorboard', 'csv', 'mlflow']).makeOptionMandatory())
    .option('--out <dir>', 'output folder (default: RUN/exports/<format>)')
    .option('--dir <runsDir>', 'runs directory', 'runs')
    .option('--json', 'machine-readable output', false)
    .action(async (run: string, o: { to: string; out?: string; dir: string; json: boolean }) => setExit(await runExportCommand(run, o, io)));

  program
    .command('doctor')
    .description('what each compute backend finds here (tfjs wasm/native/gpu; the torch worker: Python, torch, CUDA, bf16, SDPA, BLAS kernel and threads), and which one `auto` picks and why')
    .option('--python <cmd>', 'the interpreter of the torch backend (default: BALANCEDBIO_PYTHON, else python3)')
    .option('--json', 'machine-readable output', false)
    .action(async (o: { python?: string; json: boolean }) => setExit(await runDoctor({ json: o.json, ...(o.python ? { python: o.python } : {}) }, io)));

  return program;
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every other commander error is a usage error
      return e.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    // a full disk or a read-only folder is the machine's state, not a bug: E_IO with the path and a hint
    const known = e instanceof BbioError ? e : toBbioError(e);
    if (known.code !== 'E_INTERNAL') {
      io.err(known.format());
      return known.code === 'E_STAGE_FAILED' || known.code === 'E_IO' ? EXIT.failed : EXIT.badInput;
    }
    io.err(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    io.err('this is a bug in BalancedBio; please report it with the command you ran');
    return EXIT.failed;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`internal error: ${String(e)}\n`);
      process.exitCode = EXIT.failed;
    },
  );
}
