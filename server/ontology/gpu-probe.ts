/**
 * Whether the `gpu` backend can load here. Resolving @tensorflow/tfjs-node-gpu is not enough: npm keeps the
 * package even when its install script could not fetch libtensorflow (tfjs#8742), and its binding needs the
 * CUDA 11.2 + cuDNN 8.1 libraries when it loads. So the probe loads the package as a `gpu` run would, and
 * says why it could not. It runs in the ontology worker: loading a native module is synchronous work.
 */
export const TFJS_NODE_GPU = '@tensorflow/tfjs-node-gpu';

export interface GpuProbe {
  available: boolean;
  /** What loaded, or the first line of why it did not (shown in the diagnostic). */
  message: string;
}

/** Loads a module by name: Node's `require` by default; tests pass their own to get either outcome. */
export type LoadModule = (id: string) => unknown;

/** A reason longer than this is cut: it goes on one line of a diagnostic. */
const MAX_REASON_CHARS = 200;

export function probeGpu(load: LoadModule = (id) => require(id)): GpuProbe {
  try {
    load(TFJS_NODE_GPU);
    return { available: true, message: `${TFJS_NODE_GPU} loaded` };
  } catch (e) {
    // not an error of the server: the answer is "no", and the reason goes to the user in the diagnostic
    const msg = e instanceof Error ? e.message : String(e);
    return { available: false, message: (msg.split('\n')[0] ?? msg).slice(0, MAX_REASON_CHARS) };
  }
}
