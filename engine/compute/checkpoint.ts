/**
 * Training checkpoints: trainable tensors + optimizer moments (safetensors) + a JSON state (step, RNG
 * state, data cursor, anything the stage adds). Atomic: everything is written into a temporary folder that
 * is renamed into place, then `latest.json` is replaced atomically, so a crash at any instant leaves the
 * previous checkpoint intact and `latest.json` never points at a half-written folder.
 *
 * Each checkpoint folder carries `manifest.json` with the sha256 of every file in it, written last (and
 * atomically): a load verifies every file against it, so corruption that keeps a file's size (a flipped
 * byte, a block of zeros from a bad disk) is caught instead of resuming from garbage. At least the newest
 * two checkpoints are kept, so a bad newest one falls back to the one before.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { parseSafetensors, serializeSafetensors, type TensorMap } from '../model/safetensors';
import { BbioError } from '../util/errors';

export interface CheckpointData<S = Record<string, unknown>> {
  step: number;
  /** Trainable tensors by name. */
  params: TensorMap;
  /** Optimizer tensors by name (e.g. `m.<param>`, `v.<param>`). */
  optimizer: TensorMap;
  /** JSON-serialisable state: RNG words, data cursor, counters. */
  state: S;
}

/** A checkpoint as loaded: which folder it came from, and the newer ones that failed verification. */
export interface LoadedCheckpoint<S> extends CheckpointData<S> {
  dir: string;
  /** Newer checkpoints skipped because they did not verify, newest first (empty when the latest loaded). */
  rejected: { dir: string; problem: string }[];
}

const LATEST = 'latest.json';
const MANIFEST = 'manifest.json';
const FILES = { params: 'params.safetensors', optimizer: 'optimizer.safetensors', state: 'state.json' } as const;
/** Two, so a corrupt newest checkpoint always has a predecessor to fall back to. */
const MIN_KEEP = 2;

interface CheckpointManifest {
  version: 1;
  step: number;
  /** sha256 (hex) of each file of the checkpoint folder, by file name. */
  sha256: Record<string, string>;
}

function stepDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Writes a checkpoint under `dir` and points latest.json at it; keeps the newest `keep` checkpoints
 * (never fewer than two, see MIN_KEEP).
 */
export async function saveCheckpoint<S>(dir: string, data: CheckpointData<S>, opts: { keep?: number } = {}): Promise<string> {
  return saveCheckpointFiles(dir, {
    step: data.step,
    state: data.state,
    write: async (tmp) => {
      await writeFileAtomic(path.join(tmp, FILES.params), serializeSafetensors(data.params, { format: 'pt' }));
      await writeFileAtomic(path.join(tmp, FILES.optimizer), serializeSafetensors(data.optimizer, { format: 'pt' }));
    },
  }, opts);
}

/**
 * The same atomic folder, manifest and `keep` for a backend that writes its own tensor files (the torch
 * worker writes params.safetensors and optimizer.safetensors itself: its tensors never cross the pipe).
 * `write` fills the temporary folder; its `state` (called after `write`) is merged into state.json, and every
 * file in the folder gets a sha256 in the manifest.
 */
export async function saveCheckpointFiles<S>(dir: string, data: { step: number; state: S | (() => S); write: (tmp: string) => Promise<void> }, opts: { keep?: number } = {}): Promise<string> {
  await fs.promises.mkdir(dir, { recursive: true });
  const name = stepDirName(data.step);
  const final = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.tmp-${process.pid}`);
  await fs.promises.rm(tmp, { recursive: true, force: true });
  await fs.promises.mkdir(tmp);
  await data.write(tmp);
  const state = typeof data.state === 'function' ? (data.state as () => S)() : data.state;
  await writeFileAtomic(path.join(tmp, FILES.state), JSON.stringify({ step: data.step, state }) + '\n');
  const manifest: CheckpointManifest = { version: 1, step: data.step, sha256: {} };
  for (const file of (await fs.promises.readdir(tmp)).sort()) {
    manifest.sha256[file] = sha256(await fs.promises.readFile(path.join(tmp, file)));
  }
  await writeFileAtomic(path.join(tmp, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  await fs.promises.rm(final, { recursive: true, force: true });
  await fs.promises.rename(tmp, final);
  await writeFileAtomic(path.join(dir, LATEST), JSON.stringify({ dir: name, step: data.step }) + '\n');
  const keep = Math.max(MIN_KEEP, opts.keep ?? MIN_KEEP);
  const all = (await fs.promises.readdir(dir)).filter((f) => /^step-\d{8}$/.test(f)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    if (old !== name) await fs.promises.rm(path.join(dir, old), { recursive: true, force: true });
  }
  return final;
}

/** A reader of one checkpoint folder's files that checks each against the folder's manifest; throws a message on any mismatch. */
function verifiedReader(ck: string): (file: string) => Buffer {
  const manifestFile = path.join(ck, MANIFEST);
  let manifest: CheckpointManifest | undefined;
  if (fs.existsSync(manifestFile)) {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as CheckpointManifest;
    if (manifest.version !== 1 || typeof manifest.sha256 !== 'object' || manifest.sha256 === null) throw new Error(`${MANIFEST} has an unexpected structure`);
  }
  // a folder without a manifest was written before checksums existed: it loads unverified
  return (file: string): Buffer => {
    const bytes = fs.readFileSync(path.join(ck, file));
    const want = manifest?.sha256[file];
    if (manifest && want === undefined) throw new Error(`${MANIFEST} has no checksum for ${file}`);
    if (want !== undefined && sha256(bytes) !== want) throw new Error(`${file} does not match its sha256 in ${MANIFEST} (the file was damaged after it was written)`);
    return bytes;
  };
}

/** Reads one checkpoint folder, verifying every file against its manifest; throws a message on any mismatch. */
function readVerified<S>(ck: string): CheckpointData<S> {
  const read = verifiedReader(ck);
  const st = JSON.parse(read(FILES.state).toString('utf8')) as { step: number; state: S };
  return {
    step: st.step,
    params: parseSafetensors(read(FILES.params), path.join(ck, FILES.params)).tensors,
    optimizer: parseSafetensors(read(FILES.optimizer), path.join(ck, FILES.optimizer)).tensors,
    state: st.state,
  };
}

/** Verifies every file of a folder written by saveCheckpointFiles and reads its state; the tensors stay in their files. */
function readVerifiedFiles<S>(ck: string): { step: number; state: S } {
  const read = verifiedReader(ck);
  for (const file of [FILES.params, FILES.optimizer]) read(file);
  return JSON.parse(read(FILES.state).toString('utf8')) as { step: number; state: S };
}

/**
 * The checkpoint latest.json points at or, when that one does not verify, the newest older one that does
 * (with the rejected ones listed); null when there is no checkpoint. Throws E_CHECKPOINT when none verifies.
 */
export function loadLatestCheckpoint<S = Record<string, unknown>>(dir: string): LoadedCheckpoint<S> | null {
  return newestVerified(dir, (ck) => readVerified<S>(ck));
}

/** As loadLatestCheckpoint for a folder written by saveCheckpointFiles: verified, its tensor files left for the backend to read. */
export function loadLatestCheckpointFiles<S = Record<string, unknown>>(dir: string): { step: number; state: S; dir: string; rejected: { dir: string; problem: string }[] } | null {
  return newestVerified(dir, (ck) => readVerifiedFiles<S>(ck));
}

function newestVerified<T>(dir: string, read: (ck: string) => T): (T & { dir: string; rejected: { dir: string; problem: string }[] }) | null {
  const latestFile = path.join(dir, LATEST);
  if (!fs.existsSync(latestFile)) return null;
  const rejected: { dir: string; problem: string }[] = [];
  let latest: string | undefined;
  try {
    latest = (JSON.parse(fs.readFileSync(latestFile, 'utf8')) as { dir: string }).dir;
  } catch (e) {
    rejected.push({ dir: latestFile, problem: `not valid JSON: ${(e as Error).message}` });
  }
  const older = fs.readdirSync(dir).filter((f) => /^step-\d{8}$/.test(f) && f !== latest).sort().reverse();
  for (const name of latest ? [latest, ...older] : older) {
    const ck = path.join(dir, name);
    try {
      return { ...read(ck), dir: ck, rejected };
    } catch (e) {
      rejected.push({ dir: ck, problem: (e as Error).message });
    }
  }
  throw new BbioError('E_CHECKPOINT', `no checkpoint in ${dir} verifies: ${rejected.map((r) => `${path.basename(r.dir)}: ${r.problem}`).join('; ')}`, { file: dir }, 'delete the checkpoint folder to restart the stage');
}

/**
 * The compute family whose trainer wrote a checkpoint: `tfjs` (every TensorFlow.js backend: one trainer, the
 * sfc32 stream of engine/util/rng.ts) or `torch` (the Python worker: a torch.Generator per stream). The
 * tensors are a shared format (safetensors of the fp32 trained tensors, AdamW moments m.<name>/v.<name>), but
 * the random stream is not: neither family can continue the other's, so a stage resumed on the other family
 * would not draw what it would have drawn (dropout masks, PCGrad orders, sampled tokens) and the resume would
 * not be exact. A stage's finished outputs (a Hugging Face model, PEFT adapters) are shared and carry over.
 */
export type CheckpointFamily = 'tfjs' | 'torch';

/** What a backend adds to the state.json of each checkpoint it writes. */
export interface CheckpointWriter {
  writtenBy: { family: CheckpointFamily; backend: string };
}

/** The writer of a checkpoint's state; for checkpoints written before the field, told by the rng each family keeps. */
function writerOf(state: Record<string, unknown>): CheckpointWriter['writtenBy'] | undefined {
  const w = state['writtenBy'] as CheckpointWriter['writtenBy'] | undefined;
  if (w && (w.family === 'tfjs' || w.family === 'torch')) return w;
  if (typeof state['torchRng'] === 'string') return { family: 'torch', backend: 'torch' };
  if (Array.isArray(state['rng'])) return { family: 'tfjs', backend: LEGACY_TFJS };
  return undefined;
}

/** The name of the tfjs backend that wrote a checkpoint from before `writtenBy`: unknown, and any of them continues it. */
const LEGACY_TFJS = 'a TensorFlow.js backend';

/**
 * Refuses a checkpoint written by the other compute family (E_CHECKPOINT naming both backends and the two
 * ways on): resume on the backend that wrote it, or delete the stage's checkpoint folder to restart that stage.
 * `stageDir` is the folder of the stage's checkpoints (the parent of `ck`).
 */
export function assertSameFamily(state: Record<string, unknown>, ck: string, here: CheckpointWriter['writtenBy']): void {
  const w = writerOf(state);
  if (!w || w.family === here.family) return;
  const stageDir = path.dirname(ck);
  // every tfjs backend continues a tfjs checkpoint exactly; wasm is the one that needs nothing but npm
  const resumeOn = w.family === 'tfjs' && w.backend === LEGACY_TFJS ? 'wasm' : w.backend;
  throw new BbioError(
    'E_CHECKPOINT',
    `${ck} was written by the ${w.backend} backend (${w.family}) and this run resumes on ${here.backend} (${here.family}): the two keep different random streams, so the stage cannot continue exactly where it stopped`,
    { file: ck },
    `resume with --backend ${resumeOn}, or delete ${stageDir} to restart this stage on ${here.backend} (finished stages are kept: their models and adapters load on either backend)`,
  );
}
