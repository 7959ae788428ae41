"""A Spanish demo catalog (Colombia, prices in COP) and the idempotent seed that loads it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hilo.packs.courses.models import Course

_ONLINE = None  # city of a virtual course


def _course(code, name, level, modality, price, schedule, weeks, hours, start, city, instructor,
            seats, description) -> dict[str, Any]:
    return {"code": code, "name": name, "level": level, "modality": modality, "price": Decimal(price),
            "currency": "COP", "schedule": schedule, "duration_weeks": weeks, "hours": hours,
            "start_date": date.fromisoformat(start), "city": city, "instructor": instructor,
            "seats": seats, "description": description}


DEMO: list[dict[str, Any]] = [
    _course("PY-101", "Python desde cero", "básico", "virtual", 450000, "Lunes y miércoles, 7:00 a 9:00 p. m.",
            8, 32, "2027-01-18", _ONLINE, "Laura Gómez", 30,
            "Aprende a programar con Python sin experiencia previa: variables, condicionales, ciclos, "
            "funciones y listas. Ideal para principiantes que nunca han programado."),
    _course("PY-201", "Python intermedio: automatización y APIs", "intermedio", "virtual", 620000,
            "Martes y jueves, 7:00 a 9:00 p. m.", 8, 32, "2027-02-02", _ONLINE, "Laura Gómez", 25,
            "Automatiza tareas con Python: archivos, Excel, correos, web scraping y consumo de APIs REST. "
            "Requiere conocer lo básico del lenguaje."),
    _course("PY-301", "Python avanzado: programación asíncrona y rendimiento", "avanzado", "virtual", 850000,
            "Sábados, 9:00 a. m. a 1:00 p. m.", 6, 24, "2027-03-06", _ONLINE, "Andrés Restrepo", 20,
            "Asyncio, concurrencia, perfiles de rendimiento, tipado estático y empaquetado de proyectos "
            "profesionales en Python."),
    _course("DS-201", "Ciencia de datos con Python", "intermedio", "híbrido", 980000,
            "Martes y jueves, 6:30 a 9:30 p. m.", 12, 72, "2027-02-09", "Medellín", "Catalina Ruiz", 24,
            "Análisis de datos con pandas, visualización con matplotlib, estadística aplicada y primeros "
            "modelos de machine learning con scikit-learn."),
    _course("AI-301", "Inteligencia artificial y deep learning", "avanzado", "virtual", 1450000,
            "Lunes, miércoles y viernes, 7:00 a 9:00 p. m.", 12, 72, "2027-03-01", _ONLINE, "Andrés Restrepo", 20,
            "Redes neuronales, visión por computador, procesamiento de lenguaje natural y modelos de "
            "lenguaje con PyTorch. Requiere Python y álgebra lineal."),
    _course("SQL-101", "Bases de datos y SQL para principiantes", "básico", "virtual", 390000,
            "Sábados, 8:00 a. m. a 12:00 m.", 6, 24, "2027-01-23", _ONLINE, "Jorge Martínez", 35,
            "Consultas SELECT, filtros, uniones (JOIN), agrupaciones y diseño de tablas en PostgreSQL y MySQL."),
    _course("WEB-101", "Desarrollo web: HTML y CSS", "básico", "presencial", 480000,
            "Lunes y miércoles, 6:00 a 9:00 p. m.", 8, 48, "2027-01-25", "Bogotá", "Felipe Castro", 20,
            "Construye tu primera página web: estructura con HTML5, estilos con CSS3, diseño adaptable "
            "(responsive) y publicación en internet."),
    _course("WEB-201", "JavaScript moderno", "intermedio", "virtual", 590000, "Martes y jueves, 7:00 a 9:00 p. m.",
            8, 32, "2027-02-16", _ONLINE, "Felipe Castro", 30,
            "JavaScript ES6+, manipulación del DOM, eventos, promesas, async/await y consumo de APIs "
            "desde el navegador."),
    _course("WEB-301", "React y Node.js: aplicaciones full stack", "avanzado", "híbrido", 1250000,
            "Sábados, 8:00 a. m. a 2:00 p. m.", 12, 72, "2027-03-13", "Bogotá", "Daniela Ortiz", 20,
            "Aplicaciones web completas con React en el frontend, Node.js y Express en el backend, "
            "autenticación, bases de datos y despliegue en la nube."),
    _course("XL-101", "Excel básico", "básico", "presencial", 280000, "Martes y jueves, 6:00 a 8:00 p. m.",
            4, 16, "2027-01-19", "Cali", "Patricia Londoño", 25,
            "Manejo de hojas de cálculo desde cero: fórmulas, formatos, gráficos y funciones SUMA, "
            "PROMEDIO y SI para el trabajo diario."),
    _course("XL-201", "Excel avanzado: tablas dinámicas y macros", "avanzado", "virtual", 420000,
            "Sábados, 2:00 a 6:00 p. m.", 5, 20, "2027-02-06", _ONLINE, "Patricia Londoño", 40,
            "Tablas dinámicas, BUSCARV y BUSCARX, Power Query, tableros de control y automatización "
            "con macros VBA."),
    _course("BI-201", "Power BI para análisis de negocio", "intermedio", "virtual", 560000,
            "Lunes y miércoles, 7:00 a 9:00 p. m.", 6, 24, "2027-02-15", _ONLINE, "Jorge Martínez", 30,
            "Conecta fuentes de datos, modela con DAX y publica tableros interactivos para la toma de "
            "decisiones en la empresa."),
    _course("EN-101", "Inglés A1 para principiantes", "básico", "presencial", 350000,
            "Lunes a jueves, 6:00 a 7:30 a. m.", 10, 60, "2027-01-12", "Bogotá", "Sarah Miller", 18,
            "Inglés desde cero: saludos, presentaciones, vocabulario cotidiano y gramática básica con "
            "profesores nativos."),
    _course("EN-201", "Inglés B1: comunicación intermedia", "intermedio", "híbrido", 420000,
            "Martes y jueves, 6:30 a 8:30 p. m.", 12, 48, "2027-02-02", "Medellín", "Sarah Miller", 18,
            "Conversación, comprensión auditiva y escritura para viajar, estudiar o trabajar en inglés."),
    _course("EN-301", "Inglés de negocios y preparación IELTS", "avanzado", "virtual", 690000,
            "Sábados, 9:00 a. m. a 12:00 m.", 10, 30, "2027-03-06", _ONLINE, "James Walker", 15,
            "Presentaciones, negociación y correos en inglés profesional; estrategias para el examen IELTS."),
    _course("FR-101", "Francés básico", "básico", "virtual", 330000, "Miércoles y viernes, 6:00 a 7:30 p. m.",
            10, 30, "2027-01-20", _ONLINE, "Claire Dubois", 20,
            "Primeros pasos en francés: pronunciación, expresiones cotidianas y gramática básica."),
    _course("MK-101", "Marketing digital para emprendedores", "básico", "virtual", 380000,
            "Martes y jueves, 7:00 a 9:00 p. m.", 6, 24, "2027-01-26", _ONLINE, "Valentina Herrera", 40,
            "Estrategia digital, redes sociales, contenido, correo electrónico y métricas básicas para "
            "vender más por internet."),
    _course("MK-201", "Publicidad en Google Ads y Meta Ads", "intermedio", "virtual", 540000,
            "Lunes y miércoles, 7:00 a 9:00 p. m.", 6, 24, "2027-02-22", _ONLINE, "Valentina Herrera", 30,
            "Campañas pagadas en Google, Facebook e Instagram: segmentación, presupuesto, conversiones y "
            "optimización del retorno."),
    _course("MK-202", "Community manager y redes sociales", "intermedio", "presencial", 460000,
            "Sábados, 9:00 a. m. a 1:00 p. m.", 6, 24, "2027-02-13", "Barranquilla", "Mariana Pérez", 25,
            "Gestión de comunidades en Instagram, TikTok y LinkedIn: calendario editorial, contenido "
            "en video y atención al cliente en redes."),
    _course("DG-101", "Diseño gráfico con Photoshop e Illustrator", "básico", "presencial", 520000,
            "Lunes y miércoles, 6:00 a 9:00 p. m.", 8, 48, "2027-02-01", "Medellín", "Santiago Vélez", 20,
            "Retoque fotográfico, ilustración vectorial, tipografía y composición para piezas gráficas "
            "y redes sociales."),
    _course("VID-201", "Edición de video con Premiere Pro", "intermedio", "híbrido", 580000,
            "Martes y jueves, 6:00 a 9:00 p. m.", 8, 48, "2027-02-23", "Bogotá", "Santiago Vélez", 18,
            "Montaje, corrección de color, audio, subtítulos y exportación de videos para YouTube y redes."),
    _course("FOT-101", "Fotografía digital", "básico", "presencial", 400000, "Sábados, 8:00 a. m. a 12:00 m.",
            8, 32, "2027-01-30", "Cali", "Ricardo Muñoz", 15,
            "Domina tu cámara o celular: exposición, composición, luz natural y edición básica de fotos."),
    _course("CONT-101", "Contabilidad básica para no contadores", "básico", "virtual", 360000,
            "Lunes y miércoles, 6:30 a 8:30 p. m.", 6, 24, "2027-01-25", _ONLINE, "Gloria Sánchez", 40,
            "Conceptos contables, estados financieros, débito y crédito y manejo de las cuentas de un "
            "pequeño negocio."),
    _course("CONT-201", "Facturación electrónica y nómina electrónica", "intermedio", "virtual", 440000,
            "Sábados, 8:00 a. m. a 12:00 m.", 4, 16, "2027-02-20", _ONLINE, "Gloria Sánchez", 40,
            "Requisitos de la DIAN, emisión de facturas y documentos soporte de nómina electrónica paso a paso."),
    _course("FIN-101", "Finanzas personales e inversión", "básico", "virtual", 250000,
            "Jueves, 7:00 a 9:00 p. m.", 6, 12, "2027-01-28", _ONLINE, "Camilo Rojas", 50,
            "Presupuesto, ahorro, manejo de deudas y primeros pasos para invertir en fondos, CDT y acciones."),
    _course("TRD-201", "Trading y análisis técnico", "intermedio", "virtual", 750000,
            "Martes y jueves, 8:00 a 10:00 p. m.", 8, 32, "2027-02-09", _ONLINE, "Camilo Rojas", 30,
            "Velas japonesas, soportes y resistencias, indicadores RSI y MACD, gestión del riesgo y "
            "psicología del trading en forex y criptomonedas."),
    _course("PM-201", "Gestión de proyectos con Scrum", "intermedio", "híbrido", 690000,
            "Viernes, 6:00 a 9:00 p. m. y sábados, 8:00 a. m. a 12:00 m.", 4, 28, "2027-02-12", "Bogotá",
            "Natalia Guzmán", 25,
            "Marcos ágiles, roles de Scrum, historias de usuario, tableros Kanban y preparación para la "
            "certificación Scrum Master."),
    _course("LID-201", "Liderazgo y trabajo en equipo", "intermedio", "presencial", 480000,
            "Sábados, 8:00 a. m. a 1:00 p. m.", 5, 25, "2027-03-06", "Medellín", "Natalia Guzmán", 25,
            "Comunicación asertiva, delegación, manejo de conflictos y motivación de equipos de trabajo."),
    _course("ORA-101", "Oratoria y hablar en público", "básico", "presencial", 320000,
            "Miércoles, 6:30 a 9:00 p. m.", 6, 15, "2027-02-03", "Bogotá", "Juan Pablo Arango", 20,
            "Pierde el miedo escénico, estructura tus discursos y presenta con seguridad ante cualquier público."),
    _course("SEC-301", "Ciberseguridad y hacking ético", "avanzado", "virtual", 1300000,
            "Lunes y miércoles, 7:00 a 10:00 p. m.", 10, 60, "2027-03-08", _ONLINE, "Esteban Quintero", 20,
            "Pruebas de penetración, análisis de vulnerabilidades, seguridad en redes y aplicaciones web "
            "con Kali Linux."),
    _course("NET-201", "Redes e infraestructura de TI", "intermedio", "presencial", 720000,
            "Martes y jueves, 6:00 a 9:00 p. m.", 10, 60, "2027-02-16", "Cali", "Esteban Quintero", 18,
            "Configuración de routers y switches, direccionamiento IP, VLAN y preparación para la "
            "certificación Cisco CCNA."),
    _course("ROB-101", "Robótica y Arduino para jóvenes", "básico", "presencial", 380000,
            "Sábados, 9:00 a. m. a 12:00 m.", 8, 24, "2027-01-30", "Barranquilla", "Sebastián Díaz", 16,
            "Electrónica básica, sensores y programación de Arduino con proyectos prácticos para jóvenes "
            "de 12 a 17 años."),
    _course("COC-101", "Panadería y repostería", "básico", "presencial", 450000,
            "Martes y jueves, 2:00 a 5:00 p. m.", 6, 36, "2027-02-02", "Medellín", "Rosa Elena Cárdenas", 12,
            "Panes, tortas, galletas y postres colombianos con técnicas profesionales de horneado."),
    _course("BAR-101", "Barismo y métodos de café", "básico", "presencial", 390000,
            "Sábados, 8:00 a. m. a 12:00 m.", 4, 16, "2027-02-06", "Bogotá", "Hernán Ospina", 12,
            "Origen del café colombiano, molienda, espresso, arte latte y métodos de filtrado."),
    _course("MUS-101", "Guitarra para principiantes", "básico", "presencial", 300000,
            "Lunes y miércoles, 5:00 a 6:30 p. m.", 12, 36, "2027-01-18", "Cali", "Mateo Cifuentes", 10,
            "Acordes básicos, ritmos, lectura de tablaturas y tus primeras canciones en guitarra acústica."),
    _course("SAL-101", "Primeros auxilios", "básico", "presencial", 220000, "Sábado, 7:00 a. m. a 5:00 p. m.",
            1, 10, "2027-01-23", "Bogotá", "Dra. Liliana Mejía", 25,
            "Reanimación cardiopulmonar (RCP), manejo de heridas, atragantamiento y atención de emergencias "
            "con certificado."),
    _course("VEN-101", "Ventas y atención al cliente", "básico", "virtual", 290000,
            "Martes y jueves, 6:00 a 8:00 p. m.", 4, 16, "2027-02-09", _ONLINE, "Mariana Pérez", 40,
            "Técnicas de venta consultiva, manejo de objeciones, ventas por WhatsApp y servicio al cliente."),
]


async def seed(session: AsyncSession) -> int:
    """Add the demo courses that are missing (by code) and their embeddings; returns how many."""
    from hilo.packs.courses import service

    existing = set((await session.scalars(select(Course.code).where(Course.code.is_not(None)))).all())
    added = [await service.add(session, dict(values)) for values in DEMO if values["code"] not in existing]
    await service.ensure_embeddings(session, added)
    await session.commit()
    return len(added)


def write_demo_vectors() -> None:
    """Embed the demo catalog and store the vectors beside the pack (run after editing DEMO)."""
    import numpy as np

    from hilo.packs.courses import service

    courses = [Course(**values) for values in DEMO]
    vectors = service.embed_passages([service.embedding_text(c) for c in courses])
    np.savez_compressed(service.DEMO_VECTORS, **{service.embedding_key(c): v for c, v in zip(courses, vectors, strict=True)})
