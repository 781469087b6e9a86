using ActorKv.Protocol.Log;
using ActorKv.Storage.Lmdb;
using Etcdserverpb;
using Google.Protobuf;

namespace ActorKv.Node.Apply;

/// <summary>
/// etcd's alarms as the store keeps them: raised and cleared only by applied log entries, so
/// every member holds the same ones and refuses the same writes (etcd's alarm store).
/// </summary>
public static class AlarmRecord
{
    private const string RecordName = "alarms";

    public static IReadOnlyList<AlarmMember> Read(LmdbReadView view) =>
        view.ReadRecord(RecordName) is { } bytes ? [.. AlarmList.Parser.ParseFrom(bytes).Alarms] : [];

    public static void Write(LmdbWriteView view, IEnumerable<AlarmMember> alarms) =>
        view.WriteRecord(RecordName, new AlarmList { Alarms = { alarms } }.ToByteArray());

    /// <summary>etcd's applier under a NOSPACE alarm refuses what costs space: puts, txns with a put in a branch, lease grants.</summary>
    public static bool CostsSpace(WriteRequest request) => request.RequestCase switch
    {
        WriteRequest.RequestOneofCase.Put or WriteRequest.RequestOneofCase.LeaseGrant => true,
        WriteRequest.RequestOneofCase.Txn => HasPut(request.Txn),
        _ => false,
    };

    private static bool HasPut(TxnRequest txn) =>
        txn.Success.Concat(txn.Failure).Any(op => op.RequestPut is not null || (op.RequestTxn is { } nested && HasPut(nested)));

    /// <summary>Applies an alarm request to the alarms: the new list and the answer (etcd's applierV3backend.Alarm).</summary>
    public static (List<AlarmMember> After, AlarmResponse Response) Apply(IReadOnlyList<AlarmMember> before, AlarmRequest request)
    {
        var after = before.ToList();
        var response = new AlarmResponse();
        var member = new AlarmMember { MemberID = request.MemberID, Alarm = request.Alarm };
        var existing = after.FirstOrDefault(a => a.MemberID == member.MemberID && a.Alarm == member.Alarm);
        switch (request.Action)
        {
            case AlarmRequest.Types.AlarmAction.Get:
                response.Alarms.AddRange(after.Where(a => request.Alarm == AlarmType.None || a.Alarm == request.Alarm));
                break;
            case AlarmRequest.Types.AlarmAction.Activate when request.Alarm != AlarmType.None:
                if (existing is null)
                {
                    after.Add(member);
                }

                response.Alarms.Add(existing ?? member);
                break;
            case AlarmRequest.Types.AlarmAction.Deactivate:
                if (existing is not null)
                {
                    after.Remove(existing);
                    response.Alarms.Add(existing);
                }

                break;
        }

        return (after, response);
    }

    /// <summary>One alarm as etcd's Status lists it in errors (gogoproto's text form).</summary>
    public static string Describe(AlarmMember alarm) => $"memberID:{alarm.MemberID} alarm:{alarm.Alarm.ToString().ToUpperInvariant()} ";
}
