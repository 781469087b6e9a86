using ActorKv.Node;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ActorKv.Gateway;

/// <summary>Registers the etcd v3 services of one node on an ASP.NET Core host.</summary>
public static class GatewayEndpoints
{
    public static IServiceCollection AddEtcdGateway(this IServiceCollection services, ActorKvNode node)
    {
        services.AddSingleton(node);
        services.AddSingleton(new ActorKv.Node.Concurrency.ConcurrencyRecipes(node));
        services.AddSingleton(new ActorKv.Node.Chaos.ChaosControl(node));
        services.AddGrpc(options =>
        {
            // As etcd: larger messages are refused by gRPC itself, before they are parsed.
            options.MaxReceiveMessageSize = node.Settings.MaxRequestBytes + node.Settings.GrpcOverheadBytes;
            options.MaxSendMessageSize = null;
            options.Interceptors.Add<UnimplementedMessageInterceptor>();
        });
        return services;
    }

    public static IEndpointRouteBuilder MapEtcdGateway(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<KvService>();
        endpoints.MapGrpcService<WatchService>();
        endpoints.MapGrpcService<LeaseService>();
        endpoints.MapGrpcService<ClusterService>();
        endpoints.MapGrpcService<MaintenanceService>();
        endpoints.MapGrpcService<AuthService>();
        endpoints.MapGrpcService<LockService>();
        endpoints.MapGrpcService<ElectionService>();
        if (endpoints.ServiceProvider.GetRequiredService<ActorKvNode>().Settings.ChaosEnabled)
        {
            endpoints.MapGrpcService<ChaosService>();
        }

        return endpoints;
    }
}
