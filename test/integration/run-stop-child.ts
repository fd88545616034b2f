/**
 * Child process for the forced-stop test: runs the pipeline with the CLI's signal handling and one stage
 * that never reaches a step boundary (it ignores the abort, as a long training step does), so only the
 * second signal stops it. argv: <experiment file>. Prints `started <runDir>` once the stage runs.
 */
import { loadExperiment } from '../../engine/config/load';
import { handleStopSignals } from '../../engine/cli/commands/run';
import { runPipeline } from '../../engine/run/pipeline';
import { silentLogger } from '../../engine/util/log';
import { workspaceOf } from '../helpers/tmp';

const file = process.argv[2]!;
const io = { out: (l: string) => process.stdout.write(l + '\n'), err: (l: string) => process.stderr.write(l + '\n'), isTTY: false, cwd: process.cwd() };

async function run(): Promise<void> {
  const { config } = await loadExperiment(file, workspaceOf(file));
  const controller = new AbortController();
  handleStopSignals(controller, io);
  await runPipeline({
    config: config!, experimentFile: file, stages: ['synthesize'], log: silentLogger, version: '0', signal: controller.signal,
    stageTable: {
      synthesize: {
        name: 'synthesize', title: 'a step that does not end',
        run: (ctx) => {
          io.out(`started ${ctx.runDir}`);
          return new Promise(() => setInterval(() => {}, 1e6)); // never settles, never looks at ctx.signal
        },
      },
    },
  });
}
run().catch((e: unknown) => io.err(`child failed: ${String(e)}`));
