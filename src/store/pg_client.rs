//! A blocking PostgreSQL client over `tokio-postgres`: the calls the backend makes, each run to
//! completion on a single-threaded runtime that also drives the connection.
//!
//! Why not the `postgres` crate, which does the same: it enters the runtime once per message the
//! server sends, and a `COPY ... TO STDOUT` sends one message per row. The profile of an export
//! of the huge sample had half of the reading thread's time in entering the runtime and
//! registering wakers (BENCHMARKS.md, "PostgreSQL"). Here [`Transaction::copy_out_each`] reads a
//! whole `COPY` inside one `block_on`, handing each message to a closure.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;

use bytes::Bytes;
use futures_util::{SinkExt, Stream, StreamExt};
use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Config, Error, IsolationLevel, NoTls, Row, Statement, ToStatement};

/// What the connection receives unasked (notices; nothing here reads them).
type Messages = Pin<Box<dyn Stream<Item = Result<AsyncMessage, Error>> + Send>>;

/// The runtime and the connection it drives.
struct Driver {
    runtime: Runtime,
    /// `None` once the connection has ended.
    connection: Option<Messages>,
}

impl Driver {
    /// Runs `future` to completion, driving the connection meanwhile. When the connection ends,
    /// it is dropped, which fails every request still waiting for an answer (the error of
    /// `future`); an error of the connection itself is returned at once.
    fn block_on<T>(&mut self, future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let Driver { runtime, connection } = self;
        let mut future = pin!(future);
        runtime.block_on(poll_fn(|cx| match pump(connection, cx) {
            Ok(()) => future.as_mut().poll(cx),
            Err(e) => Poll::Ready(Err(e)),
        }))
    }

    /// Drives the connection until it ends (after the client is gone: it sends what was
    /// queued, then Terminate, and closes).
    fn close(&mut self) {
        let Driver { runtime, connection } = self;
        runtime.block_on(poll_fn(|cx| {
            let _ = pump(connection, cx);
            if connection.is_some() { Poll::Pending } else { Poll::Ready(()) }
        }));
    }
}

/// Lets the connection do what it can now (send queued requests, read answers), until it waits
/// or ends; an ended or failed connection is dropped, and its error returned.
fn pump(connection: &mut Option<Messages>, cx: &mut std::task::Context<'_>) -> Result<(), Error> {
    while let Some(messages) = connection.as_mut() {
        match messages.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(e))) => {
                *connection = None;
                return Err(e);
            }
            Poll::Ready(None) => *connection = None,
            Poll::Pending => break,
        }
    }
    Ok(())
}

/// Why [`Client::connect`] failed.
pub(crate) enum ConnectError {
    /// The operating system refused what the runtime needs (an event queue).
    Runtime(std::io::Error),
    /// Connecting, or the server, failed.
    Postgres(Error),
}

/// A connection to the server.
pub(crate) struct Client {
    driver: Driver,
    /// `None` only while dropping.
    client: Option<tokio_postgres::Client>,
}

impl Client {
    /// Connects as `config` says, without TLS.
    pub(crate) fn connect(config: &Config) -> Result<Client, ConnectError> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ConnectError::Runtime)?;
        let (client, mut connection) = runtime.block_on(config.connect(NoTls)).map_err(ConnectError::Postgres)?;
        let messages: Messages = Box::pin(futures_util::stream::poll_fn(move |cx| connection.poll_message(cx)));
        Ok(Client { driver: Driver { runtime, connection: Some(messages) }, client: Some(client) })
    }

    fn parts(&mut self) -> (&mut Driver, &mut tokio_postgres::Client) {
        let client = self.client.as_mut().expect("the client is only taken when dropped");
        (&mut self.driver, client)
    }

    /// Runs `sql` (one or more statements, no parameters).
    pub(crate) fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        let (driver, client) = self.parts();
        driver.block_on(client.batch_execute(sql))
    }

    /// At most one row of `sql`.
    pub(crate) fn query_opt<T: ?Sized + ToStatement + Sync>(
        &mut self,
        sql: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let (driver, client) = self.parts();
        driver.block_on(client.query_opt(sql, params))
    }

    /// Begins a transaction (READ COMMITTED, read-write).
    pub(crate) fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        let (driver, client) = self.parts();
        let tx = driver.block_on(client.transaction())?;
        Ok(Transaction { driver, tx })
    }

    /// Begins a REPEATABLE READ, READ ONLY transaction.
    pub(crate) fn read_transaction(&mut self) -> Result<Transaction<'_>, Error> {
        let (driver, client) = self.parts();
        let tx = driver.block_on(
            client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start(),
        )?;
        Ok(Transaction { driver, tx })
    }
}

impl Drop for Client {
    /// Closes the connection as the `postgres` crate does: dropping the client ends the
    /// connection once it has sent what was queued (a transaction's ROLLBACK) and Terminate.
    fn drop(&mut self) {
        drop(self.client.take());
        self.driver.close();
    }
}

/// A transaction; dropped without [`Transaction::commit`], it is rolled back (the ROLLBACK is
/// sent with the next request, or when the client closes; a connection that breaks first rolls
/// it back on the server).
pub(crate) struct Transaction<'a> {
    driver: &'a mut Driver,
    tx: tokio_postgres::Transaction<'a>,
}

impl Transaction<'_> {
    fn parts(&mut self) -> (&mut Driver, &tokio_postgres::Transaction<'_>) {
        (self.driver, &self.tx)
    }

    pub(crate) fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        let (driver, tx) = self.parts();
        driver.block_on(tx.batch_execute(sql))
    }

    pub(crate) fn execute<T: ?Sized + ToStatement + Sync>(
        &mut self,
        sql: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let (driver, tx) = self.parts();
        driver.block_on(tx.execute(sql, params))
    }

    pub(crate) fn query<T: ?Sized + ToStatement + Sync>(
        &mut self,
        sql: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let (driver, tx) = self.parts();
        driver.block_on(tx.query(sql, params))
    }

    pub(crate) fn query_one<T: ?Sized + ToStatement + Sync>(
        &mut self,
        sql: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        let (driver, tx) = self.parts();
        driver.block_on(tx.query_one(sql, params))
    }

    pub(crate) fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        let (driver, tx) = self.parts();
        driver.block_on(tx.prepare(sql))
    }

    /// Runs `statement` (a `COPY ... FROM STDIN`) with `data` as its input; the rows copied.
    pub(crate) fn copy_in(&mut self, statement: &Statement, data: &[u8]) -> Result<u64, Error> {
        let (driver, tx) = self.parts();
        driver.block_on(async {
            let sink = tx.copy_in::<_, Bytes>(statement).await?;
            let mut sink = pin!(sink);
            sink.send(Bytes::copy_from_slice(data)).await?;
            sink.as_mut().finish().await
        })
    }

    /// Runs `sql` (a `COPY ... TO STDOUT`) and hands each message of its output to `each`, in
    /// order, all in one run of the runtime. The first error of `each` is returned at once (the
    /// connection drops the rest of the output); the caller's transaction then rolls back.
    pub(crate) fn copy_out_each<E>(
        &mut self,
        sql: &str,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, Error> {
        let (driver, tx) = self.parts();
        driver.block_on(async {
            let stream = tx.copy_out(sql).await?;
            let mut stream = pin!(stream);
            while let Some(message) = stream.next().await {
                if let Err(e) = each(&message?) {
                    return Ok(Err(e));
                }
            }
            Ok(Ok(()))
        })
    }

    /// Commits.
    pub(crate) fn commit(self) -> Result<(), Error> {
        let Transaction { driver, tx } = self;
        driver.block_on(tx.commit())
    }
}
