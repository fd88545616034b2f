/** The webview side of the host channel: typed post, typed state. `acquireVsCodeApi` may be called once. */
declare function acquireVsCodeApi<S>(): { postMessage(m: unknown): void; getState(): S | undefined; setState(s: S): void };

export interface WebviewApi<Out, State> {
  post(m: Out): void;
  getState(): State | undefined;
  setState(s: State): void;
}

let api: ReturnType<typeof acquireVsCodeApi<unknown>> | undefined;

export function getApi<Out, State>(): WebviewApi<Out, State> {
  api ??= acquireVsCodeApi<unknown>();
  const a = api;
  return {
    post: (m) => a.postMessage(m),
    getState: () => a.getState() as State | undefined,
    setState: (s) => a.setState(s),
  };
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

/** Colours per series, readable on dark and light themes (Tableau 10). */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
