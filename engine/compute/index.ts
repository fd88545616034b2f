/**
 * Opening a compute backend for a stage or command: the backend the experiment asks for (model.backend,
 * `auto` explained in one log line by selectBackend), recorded in manifest.json by the caller.
 */
import type { Experiment } from '../../schemas/generated/experiment';
import { selectBackend } from '../model/backend';
import type { Logger } from '../util/log';
import { TfjsCompute, type TfjsComputeOptions } from './tfjs/compute';
import type { Compute } from './types';

export type { Compute } from './types';

export interface OpenComputeOptions {
  log: Logger;
  tokenizer?: TfjsComputeOptions['tokenizer'];
}

/** How a stage gets its backend; stages take one so tests can hand them a fake. */
export type ComputeFactory = (model: Pick<Experiment['model'], 'backend' | 'workers'>, opts: OpenComputeOptions) => Promise<Compute>;

export async function openCompute(model: Pick<Experiment['model'], 'backend' | 'workers'>, opts: OpenComputeOptions): Promise<Compute> {
  const backend = await selectBackend(model.backend, { log: opts.log });
  return new TfjsCompute({ backend, log: opts.log, workers: model.workers, ...(opts.tokenizer ? { tokenizer: opts.tokenizer } : {}) });
}
