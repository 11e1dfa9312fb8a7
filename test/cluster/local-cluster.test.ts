/** The single-node cluster adapter (server/cluster/local-cluster.ts): the ClusterAdapter contract. */
import { runClusterAdapterContract } from './cluster-adapter.contract.ts'
import { LocalCluster } from '../../server/cluster/local-cluster.ts'

runClusterAdapterContract('local', async (n) => Array.from({ length: n }, () => new LocalCluster()), { peers: false })
