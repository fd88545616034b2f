/** Whether a process with this pid exists (signal 0 only checks); used to break the locks of dead writers. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists but belongs to someone else
  }
}
