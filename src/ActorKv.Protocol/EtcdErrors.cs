using Grpc.Core;

namespace ActorKv.Protocol;

/// <summary>
/// etcd 3.4's client-visible errors (<c>rpctypes/error.go</c>): the same gRPC status code and the
/// same text, since clients match on both.
/// </summary>
public static class EtcdErrors
{
    public static RpcException EmptyKey => Error(StatusCode.InvalidArgument, "etcdserver: key is not provided");
    public static RpcException KeyNotFound => Error(StatusCode.InvalidArgument, "etcdserver: key not found");
    public static RpcException ValueProvided => Error(StatusCode.InvalidArgument, "etcdserver: value is provided");
    public static RpcException LeaseProvided => Error(StatusCode.InvalidArgument, "etcdserver: lease is provided");
    public static RpcException TooManyOps => Error(StatusCode.InvalidArgument, "etcdserver: too many operations in txn request");
    public static RpcException DuplicateKey => Error(StatusCode.InvalidArgument, "etcdserver: duplicate key given in txn request");
    public static RpcException Compacted => Error(StatusCode.OutOfRange, "etcdserver: mvcc: required revision has been compacted");
    public static RpcException FutureRevision => Error(StatusCode.OutOfRange, "etcdserver: mvcc: required revision is a future revision");
    public static RpcException NoSpace => Error(StatusCode.ResourceExhausted, "etcdserver: mvcc: database space exceeded");
    public static RpcException LeaseNotFound => Error(StatusCode.NotFound, "etcdserver: requested lease not found");
    public static RpcException LeaseExists => Error(StatusCode.FailedPrecondition, "etcdserver: lease already exists");
    public static RpcException LeaseTtlTooLarge => Error(StatusCode.OutOfRange, "etcdserver: too large lease TTL");
    public static RpcException RequestTooLarge => Error(StatusCode.InvalidArgument, "etcdserver: request is too large");
    public static RpcException Stopped => Error(StatusCode.Unavailable, "etcdserver: server stopped");
    public static RpcException NoLeader => Error(StatusCode.Unavailable, "etcdserver: no leader");
    public static RpcException NotLeader => Error(StatusCode.FailedPrecondition, "etcdserver: not leader");
    public static RpcException BadLeaderTransferee => Error(StatusCode.FailedPrecondition, "etcdserver: bad leader transferee");
    public static RpcException LeaderTransferTimeout => Error(StatusCode.Unavailable, "etcdserver: request timed out, leader transfer took too long");
    public static RpcException MemberExist => Error(StatusCode.FailedPrecondition, "etcdserver: member ID already exist");
    public static RpcException PeerUrlExist => Error(StatusCode.FailedPrecondition, "etcdserver: Peer URLs already exists");
    public static RpcException MemberNotEnoughStarted => Error(StatusCode.FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members");
    public static RpcException MemberBadUrls => Error(StatusCode.InvalidArgument, "etcdserver: given member URLs are invalid");
    public static RpcException MemberNotFound => Error(StatusCode.NotFound, "etcdserver: member not found");
    public static RpcException Unhealthy => Error(StatusCode.Unavailable, "etcdserver: unhealthy cluster");
    public static RpcException MemberNotLearner => Error(StatusCode.FailedPrecondition, "etcdserver: can only promote a learner member");
    public static RpcException LearnerNotReady => Error(StatusCode.FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader");
    public static RpcException TooManyLearners => Error(StatusCode.FailedPrecondition, "etcdserver: too many learner members in cluster");
    public static RpcException Timeout => Error(StatusCode.Unavailable, "etcdserver: request timed out");

    /// <summary>
    /// Not an etcd error: etcd stores keys of any length, ActorKv's LMDB index only up to
    /// <paramref name="maxKeyBytes"/> bytes.
    /// </summary>
    public static RpcException KeyTooLong(int maxKeyBytes) =>
        Error(StatusCode.InvalidArgument, $"actorkv: key is longer than {maxKeyBytes} bytes, the most this store can index");

    /// <summary>Rebuilds an error that travelled between members as its code and text.</summary>
    public static RpcException Error(StatusCode code, string message) => new(new Status(code, message), message);
}
