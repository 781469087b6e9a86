using Etcdserverpb;

namespace ActorKv.Gateway;

// etcd services whose methods ActorKv does not serve yet. They are registered so that a client
// gets Unimplemented with a message naming the method (UnimplementedMessageInterceptor) rather
// than a bare HTTP 404. Each one leaves this file when it is implemented.


public sealed class AuthService : Auth.AuthBase;
