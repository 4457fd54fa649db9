/** Where the daemons keep their state, and the node daemon its control socket (vigil.sock), unless --state-dir says otherwise. */
export const DEFAULT_STATE_DIR = "/var/lib/vigil";
export const DEFAULT_WITNESS_STATE_DIR = "/var/lib/vigil-witness";
