using Grpc.Core;
using Grpc.Core.Interceptors;

namespace ActorKv.Gateway;

/// <summary>Names the method in the empty Unimplemented status that generated service bases throw.</summary>
public sealed class UnimplementedMessageInterceptor : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException error) when (IsBare(error))
        {
            throw Named(context);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (RpcException error) when (IsBare(error))
        {
            throw Named(context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (RpcException error) when (IsBare(error))
        {
            throw Named(context);
        }
    }

    private static bool IsBare(RpcException error) =>
        error.StatusCode == StatusCode.Unimplemented && string.IsNullOrEmpty(error.Status.Detail);

    private static RpcException Named(ServerCallContext context)
    {
        var message = $"actorkv: {context.Method.TrimStart('/')} is not implemented yet";
        return new RpcException(new Status(StatusCode.Unimplemented, message), message);
    }
}
