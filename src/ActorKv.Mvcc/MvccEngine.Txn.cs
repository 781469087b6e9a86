namespace ActorKv.Mvcc;

public sealed partial class MvccEngine
{
    /// <summary>
    /// A transaction as etcd 3.4 applies it: every guard, including those of nested transactions on
    /// the chosen path, is evaluated first against the state before the transaction; then the
    /// chosen operations are checked (nothing written if any fails) and run in order under one
    /// main revision. A write view is needed only when the txn may write.
    /// </summary>
    public TxnResult Txn(IMvccReadView view, TxnCommand command, List<MvccEvent>? events = null)
    {
        var path = new List<bool>();
        EvaluatePath(view, command, path);

        var isWrite = !command.IsReadOnly;
        if (isWrite)
        {
            CheckPath(command, path, 0, op => CheckPut(view, op, view.Meta.CurrentRevision));
        }

        CheckPath(command, path, 0, op => CheckRange(view, op));

        if (!isWrite)
        {
            var readOnly = Execute(view, context: null, command, path, 0, out _);
            return readOnly with { Revision = view.Meta.CurrentRevision };
        }

        var writeView = view as IMvccWriteView
            ?? throw new ArgumentException("a transaction that writes needs a write view", nameof(view));
        var context = new WriteContext(writeView);
        var result = Execute(writeView, context, command, path, 0, out _);
        context.End();
        events?.AddRange(context.Changes);
        return result with { Revision = context.ReadRevision };
    }

    private static void EvaluatePath(IMvccReadView view, TxnCommand command, List<bool> path)
    {
        var succeeded = command.Compare.All(condition => Holds(view, condition));
        path.Add(succeeded);
        foreach (var op in succeeded ? command.Success : command.Failure)
        {
            if (op is TxnOperation.Nested nested)
            {
                EvaluatePath(view, nested.Txn, path);
            }
        }
    }

    /// <summary>Runs <paramref name="check"/> on every non-txn operation along the chosen path.</summary>
    private static int CheckPath(TxnCommand command, List<bool> path, int position, Action<TxnOperation> check)
    {
        var next = position + 1;
        foreach (var op in path[position] ? command.Success : command.Failure)
        {
            if (op is TxnOperation.Nested nested)
            {
                next = CheckPath(nested.Txn, path, next, check);
            }
            else
            {
                check(op);
            }
        }

        return next;
    }

    private static void CheckPut(IMvccReadView view, TxnOperation op, long atRevision)
    {
        if (op is not TxnOperation.Put { Command: var put })
        {
            return;
        }

        if ((put.IgnoreValue || put.IgnoreLease) && Latest(view, put.Key, atRevision) is null)
        {
            throw new MvccException(MvccError.KeyNotFound);
        }

        if (put.Lease != 0 && view.ReadLease(put.Lease) is null)
        {
            throw new MvccException(MvccError.LeaseNotFound);
        }
    }

    private static void CheckRange(IMvccReadView view, TxnOperation op)
    {
        if (op is not TxnOperation.Range { Query: var query } || query.Revision == 0)
        {
            return;
        }

        if (query.Revision > view.Meta.CurrentRevision)
        {
            throw new MvccException(MvccError.FutureRevision);
        }

        if (query.Revision < view.Meta.CompactedRevision)
        {
            throw new MvccException(MvccError.Compacted);
        }
    }

    /// <summary>
    /// Runs the chosen branch of each txn along the path. <paramref name="context"/> is null for
    /// a read-only txn: ranges then read the view at its current revision.
    /// </summary>
    private static TxnResult Execute(IMvccReadView view, WriteContext? context, TxnCommand command, List<bool> path, int position, out int next)
    {
        next = position + 1;
        var succeeded = path[position];
        var responses = new List<TxnOperationResult>();
        foreach (var op in succeeded ? command.Success : command.Failure)
        {
            switch (op)
            {
                case TxnOperation.Range range:
                    responses.Add(new TxnOperationResult.Range(RangeAt(view, range.Query, context?.ReadRevision ?? view.Meta.CurrentRevision)));
                    break;
                case TxnOperation.Put put:
                    responses.Add(new TxnOperationResult.Put(Put(Writing(context, op), put.Command)));
                    break;
                case TxnOperation.Delete delete:
                    responses.Add(new TxnOperationResult.Delete(Delete(Writing(context, op), delete.Command)));
                    break;
                case TxnOperation.Nested nested:
                    responses.Add(new TxnOperationResult.Nested(Execute(view, context, nested.Txn, path, next, out next)));
                    break;
            }
        }

        return new TxnResult(succeeded, responses, Revision: 0);
    }

    private static WriteContext Writing(WriteContext? context, TxnOperation op) =>
        context ?? throw new InvalidOperationException("a read-only transaction holds a write: " + op);

    /// <summary>etcd's <c>applyCompare</c>: a VALUE guard on a missing key always fails.</summary>
    private static bool Holds(IMvccReadView view, CompareCondition condition)
    {
        var revision = view.Meta.CurrentRevision;
        var any = false;
        foreach (var entry in view.ScanLatest(condition.Key, condition.RangeEnd, revision))
        {
            if (entry.Tombstone)
            {
                continue;
            }

            any = true;
            if (!Holds(condition, view.ReadVersion(entry.Revision)))
            {
                return false;
            }
        }

        if (any)
        {
            return true;
        }

        return condition.Target != CompareTarget.Value
            && Holds(condition, new KeyValueEntry(condition.Key, 0, 0, 0, [], 0));
    }

    private static bool Holds(CompareCondition condition, KeyValueEntry kv)
    {
        var order = condition.Target switch
        {
            CompareTarget.Value => CompareBytes(kv.Value, condition.Value ?? []),
            CompareTarget.Create => kv.CreateRevision.CompareTo(condition.Number),
            CompareTarget.Mod => kv.ModRevision.CompareTo(condition.Number),
            CompareTarget.Version => kv.Version.CompareTo(condition.Number),
            CompareTarget.Lease => kv.Lease.CompareTo(condition.Number),
            _ => throw new ArgumentOutOfRangeException(nameof(condition), condition.Target, "unknown compare target"),
        };
        return condition.Result switch
        {
            CompareResult.Equal => order == 0,
            CompareResult.NotEqual => order != 0,
            CompareResult.Greater => order > 0,
            CompareResult.Less => order < 0,
            _ => true,
        };
    }
}
