def test_round_trip(client, script):
    model, queue = script
    queue({"text": "hola mundo", "chunks": 3})
    a = client.beta.assistants.create(model=model, name="x", instructions="be nice")
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hola"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, poll_interval_ms=20)
    assert run.status == "completed", run
    msgs = client.beta.threads.messages.list(thread_id=t.id)
    assert msgs.data[0].content[0].text.value == "hola mundo"
